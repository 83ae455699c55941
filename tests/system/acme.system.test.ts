import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { freePort } from '../../core/src/local/process-utils.js';
import { createAcmeChallengeStore } from '../../core/src/runtime/acme/acme-challenges.js';
import { acmeCertificateFile, readAcmeCertificate } from '../../core/src/runtime/acme/acme-files.js';
import { startDnsmasq, type TestDnsServer } from '../helpers/dnsmasq.js';
import { startPebble, type TestPebble } from '../helpers/pebble.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { testSecrets } from '../helpers/secrets.js';
import { eventually, spawnService, waitForSmtpGreeting, type ServiceProcess } from '../helpers/services.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { servedFingerprint, starttlsFingerprint } from '../helpers/tls-files.js';

/**
 * Built-in ACME against a private pebble (Let's Encrypt's test CA): the backend (from dist) orders a
 * certificate by HTTP-01 for MAIL_HOSTNAME and the service names of each domain, pebble validates
 * on the backend's HTTP port (names resolved by a dnsmasq), and HTTPS, SMTP and IMAP, each its own
 * process, serve it; a new domain makes the next check order a new one, served without a restart.
 */

const MX = 'mx.acme.test';
const serviceNames = (domain: string) => [`mta-sts.${domain}`, `autoconfig.${domain}`, `autodiscover.${domain}`];

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let dns: TestDnsServer;
let pebble: TestPebble;
let dataDir: string;
let ports: Record<'http' | 'https' | 'smtp' | 'submission' | 'smtps' | 'imap' | 'imaps', number>;
const services: ServiceProcess[] = [];
const accounts = () => createAccountsService({ db: store.db, secrets: testSecrets });

function get(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** The certificate in DATA_DIR/acme, or null before the first one. */
function storedCertificate(): crypto.X509Certificate | null {
  try {
    return new crypto.X509Certificate(readAcmeCertificate(acmeCertificateFile(dataDir)).cert);
  } catch {
    return null;
  }
}

const sanNames = (cert: crypto.X509Certificate) => (cert.subjectAltName ?? '').split(', ').map((n) => n.replace(/^DNS:/, '')).sort();

/** What each listener presents right now (SMTP and IMAP on 143 after STARTTLS). */
async function servedEverywhere(): Promise<string[]> {
  return Promise.all([
    servedFingerprint(ports.https),
    starttlsFingerprint(ports.smtp, [{ until: /^220 / }, { send: 'EHLO client.test', until: /^250 / }, { send: 'STARTTLS', until: /^220 / }]),
    servedFingerprint(ports.smtps),
    starttlsFingerprint(ports.imap, [{ until: /^\* OK/ }, { send: 'a STARTTLS', until: /^a OK/ }]),
    servedFingerprint(ports.imaps),
  ]);
}

const logs = () => services.map((s) => s.output()).join('\n') + `\npebble:\n${pebble.output()}`;

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
  await accounts().addDomain('acme.test');
  // A domain whose service names have no DNS records: they are left out, the rest is still issued.
  await accounts().addDomain('nodns.test');
  dns = await startDnsmasq({
    localDomains: ['acme.test', 'second.test', 'nodns.test'],
    a: [MX, ...serviceNames('acme.test'), ...serviceNames('second.test')].map((name) => ({ name, address: '127.0.0.1' })),
  });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-acme-sys-'));
  ports = {
    http: await freePort(), https: await freePort(), smtp: await freePort(), submission: await freePort(),
    smtps: await freePort(), imap: await freePort(), imaps: await freePort(),
  };
  pebble = await startPebble({ httpPort: ports.http, dnsServer: dns.server });
  const env = {
    DATABASE_URL: store.url,
    REDIS_URL: redis.url,
    DATA_DIR: dataDir,
    MAIL_HOSTNAME: MX,
    BIND_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'info',
    ACME_EMAIL: 'postmaster@acme.test',
    TLS_RELOAD_INTERVAL: '200ms',
    SMTP_PORT: String(ports.smtp),
    SUBMISSION_PORT: String(ports.submission),
    SMTPS_PORT: String(ports.smtps),
    IMAP_PORT: String(ports.imap),
    IMAPS_PORT: String(ports.imaps),
  };
  // smtp-server first: it writes the self-signed fallback the others read until ACME's arrives.
  services.push(spawnService('smtp-server', env));
  await waitForSmtpGreeting(ports.smtp);
  services.push(
    spawnService('imap-server', env),
    spawnService('backend', {
      ...env,
      HTTP_PORT: String(ports.http),
      HTTPS_PORT: String(ports.https),
      ACME_DIRECTORY_URL: pebble.directoryUrl,
      ACME_CA_FILE: pebble.caFile,
      ACME_CHECK_INTERVAL: '2s',
      DNS_SERVERS: dns.server,
    }),
  );
}, 90_000);

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await pebble?.stop();
  await dns?.stop();
  await redis?.flush();
  await store?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('built-in ACME (HTTP-01) against pebble', () => {
  let first: crypto.X509Certificate;

  it('obtains one certificate from the CA for MAIL_HOSTNAME and the service names of each domain that resolve', async () => {
    first = await eventually(async () => storedCertificate(), { timeoutMs: 90_000, intervalMs: 250, describe: logs });
    expect(sanNames(first)).toEqual([MX, ...serviceNames('acme.test')].sort());
    const intermediate = await pebble.intermediate();
    expect(first.checkIssued(intermediate)).toBe(true);
    expect(first.verify(intermediate.publicKey)).toBe(true);
    expect(fs.statSync(acmeCertificateFile(dataDir)).mode & 0o777).toBe(0o600);
  });

  it('is served by HTTPS, SMTP (STARTTLS and 465) and IMAP (STARTTLS and 993) without a restart', async () => {
    await eventually(async () => (await servedEverywhere()).every((f) => f === first.fingerprint256), { timeoutMs: 30_000, intervalMs: 250, describe: logs });
    for (const service of services) expect(service.child.exitCode).toBeNull();
  });

  it('counts as trusted: HTTP redirects to HTTPS, except the ACME challenges, which any replica answers from Redis', async () => {
    expect((await get(`http://127.0.0.1:${ports.http}/api/me`)).status).toBe(301);
    const connection = new Redis(redis.url);
    try {
      await createAcmeChallengeStore(connection).put('token-of-another-replica', 'token-of-another-replica.thumbprint');
    } finally {
      connection.disconnect();
    }
    const answer = await get(`http://127.0.0.1:${ports.http}/.well-known/acme-challenge/token-of-another-replica`);
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('token-of-another-replica.thumbprint');
    expect((await get(`http://127.0.0.1:${ports.http}/.well-known/acme-challenge/no-such-token`)).status).toBe(404);
    expect((await get(`http://127.0.0.1:${ports.http}/.well-known/acme-challenge/bad%20token`)).status).toBe(400);
  });

  it('orders a new certificate covering a domain added later, and every service serves it without a restart', async () => {
    await accounts().addDomain('second.test');
    const renewed = await eventually(async () => {
      const cert = storedCertificate();
      return cert && cert.serialNumber !== first.serialNumber ? cert : null;
    }, { timeoutMs: 90_000, intervalMs: 250, describe: logs });
    expect(sanNames(renewed)).toEqual([MX, ...serviceNames('acme.test'), ...serviceNames('second.test')].sort());
    expect(renewed.checkIssued(await pebble.intermediate())).toBe(true);
    await eventually(async () => (await servedEverywhere()).every((f) => f === renewed.fingerprint256), { timeoutMs: 30_000, intervalMs: 250, describe: logs });
    for (const service of services) expect(service.child.exitCode).toBeNull();
  });
});
