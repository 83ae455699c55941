import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService, createAuditRepository, loadConfig, schemas, silentLogger } from '@mailyard/core';
import { eventually } from '../../../../tests/helpers/services.js';
import { allocateRedisUrl } from '../../../../tests/helpers/redis.js';
import { createTestStore, type TestStore } from '../../../../tests/helpers/store.js';
import { certificatePair, installPair, servedFingerprint, type CertificatePair } from '../../../../tests/helpers/tls-files.js';
import { start } from '../../start.js';
import { HSTS_HEADER } from './https.plugin.js';
import { testSecrets } from '../../../../tests/helpers/secrets.js';

/**
 * The backend's HTTPS listener, certificate reloading, HTTP→HTTPS redirect and HSTS, TRUST_PROXY
 * (client IP and protocol) and MTA-STS, through start() on real sockets.
 */

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a real socket (HTTPS accepts any certificate: the tests check it apart). */
function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Answer> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers = { ...options.headers, ...(body ? { 'content-type': 'application/json' } : {}) };
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method: options.method ?? 'GET', headers, rejectUnauthorized: false, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function isSecureCookie(answer: Answer): boolean {
  const cookies = answer.headers['set-cookie'] ?? [];
  expect(cookies.length).toBeGreaterThan(0);
  return cookies.every((c) => /;\s*secure(;|$)/i.test(c));
}

let store: TestStore;
const dirs: string[] = [];
const running: Array<{ stop(): Promise<void> }> = [];
const PASSWORD = 'https test password';

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('https.test');
  await accounts.addUser({ address: 'hana@https.test', password: PASSWORD });
});

afterAll(async () => {
  for (const backend of running.splice(0)) await backend.stop();
  await store?.drop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function startBackend(env: Record<string, string>) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-https-'));
  dirs.push(dataDir);
  const redis = await allocateRedisUrl();
  const config = loadConfig(schemas.http('local'), { DATA_DIR: dataDir, HTTP_PORT: '0', HTTPS_PORT: '0', MAIL_HOSTNAME: 'mx.https.test', LOG_LEVEL: 'silent', ...env });
  const backend = await start(config, { databaseUrl: store.url, redisUrl: redis.url }, silentLogger());
  running.push(backend);
  return { http: `http://127.0.0.1:${backend.port}`, https: `https://127.0.0.1:${backend.httpsPort}`, httpsPort: backend.httpsPort, dataDir };
}

const login = (base: string, headers: Record<string, string> = {}, password = PASSWORD, address = 'hana@https.test') =>
  request(`${base}/api/auth/login`, { method: 'POST', headers, body: { address, password } });

describe('with TLS_CERT_FILE/TLS_KEY_FILE (a trusted certificate)', () => {
  let backend: Awaited<ReturnType<typeof startBackend>>;
  let first: CertificatePair;
  let certFile: string;
  let keyFile: string;

  beforeAll(async () => {
    const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-https-cert-'));
    dirs.push(certDir);
    first = await certificatePair('mx.https.test');
    certFile = path.join(certDir, 'cert.pem');
    keyFile = path.join(certDir, 'key.pem');
    installPair(first, { certFile, keyFile });
    backend = await startBackend({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, TLS_RELOAD_INTERVAL: '100ms' });
  });

  it('serves HTTPS with the configured certificate', async () => {
    expect(await servedFingerprint(backend.httpsPort)).toBe(first.fingerprint);
    const health = await request(`${backend.https}/healthz`);
    expect(health.status).toBe(200);
  });

  it('redirects HTTP to HTTPS with 301, except the ACME challenge and the probes', async () => {
    const api = await request(`${backend.http}/api/me?x=1`);
    expect(api.status).toBe(301);
    expect(api.headers.location).toBe(`https://127.0.0.1:${backend.httpsPort}/api/me?x=1`);
    const page = await request(`${backend.http}/`, { headers: { host: 'mail.https.test:8080' } });
    expect(page.headers.location).toBe(`https://mail.https.test:${backend.httpsPort}/`);
    expect((await request(`${backend.http}/healthz`)).status).toBe(200);
    expect((await request(`${backend.http}/readyz`)).status).toBe(200);
    expect((await request(`${backend.http}/metrics`)).status).toBe(200);
    // Not redirected: the ACME responder answers it (404: no such pending challenge).
    const challenge = await request(`${backend.http}/.well-known/acme-challenge/token-1`);
    expect(challenge.status).toBe(404);
    expect(challenge.headers.location).toBeUndefined();
  });

  it('sends HSTS on HTTPS answers', async () => {
    expect((await request(`${backend.https}/api/me`)).headers['strict-transport-security']).toBe(HSTS_HEADER);
    expect((await request(`${backend.https}/healthz`)).headers['strict-transport-security']).toBe(HSTS_HEADER);
    expect((await request(`${backend.http}/healthz`)).headers['strict-transport-security']).toBeUndefined();
  });

  it('serves the MTA-STS policy on mta-sts.<domain> for a domain served here, and 404 elsewhere', async () => {
    const policy = await request(`${backend.https}/.well-known/mta-sts.txt`, { headers: { host: 'mta-sts.https.test' } });
    expect(policy.status).toBe(200);
    expect(policy.headers['content-type']).toMatch(/^text\/plain/);
    expect(policy.body).toBe('version: STSv1\r\nmode: testing\r\nmx: mx.https.test\r\nmax_age: 604800\r\n');
    expect((await request(`${backend.https}/.well-known/mta-sts.txt`, { headers: { host: 'mta-sts.elsewhere.test' } })).status).toBe(404);
    expect((await request(`${backend.https}/.well-known/mta-sts.txt`, { headers: { host: 'https.test' } })).status).toBe(404);
  });

  it('serves a new certificate pair once its files change, without a restart', async () => {
    const second = await certificatePair('mx.https.test');
    installPair(second, { certFile, keyFile });
    await eventually(async () => (await servedFingerprint(backend.httpsPort)) === second.fingerprint, { timeoutMs: 15_000 });
    expect((await request(`${backend.https}/healthz`)).status).toBe(200);
  });
});

describe('with only the self-signed fallback, no TRUST_PROXY', () => {
  let backend: Awaited<ReturnType<typeof startBackend>>;

  beforeAll(async () => {
    backend = await startBackend({});
  });

  it('serves HTTPS with the self-signed certificate of DATA_DIR, and keeps serving the app and API on HTTP', async () => {
    const selfSigned = new crypto.X509Certificate(fs.readFileSync(path.join(backend.dataDir, 'tls', 'cert.pem')));
    expect(await servedFingerprint(backend.httpsPort)).toBe(selfSigned.fingerprint256);
    expect((await request(`${backend.http}/api/me`)).status).toBe(401);
    expect((await request(`${backend.https}/api/me`)).headers['strict-transport-security']).toBeUndefined();
  });

  it('makes the session cookie Secure over HTTPS, not over HTTP even with a forged X-Forwarded-Proto', async () => {
    expect(isSecureCookie(await login(backend.https))).toBe(true);
    expect(isSecureCookie(await login(backend.http))).toBe(false);
    expect(isSecureCookie(await login(backend.http, { 'x-forwarded-proto': 'https' }))).toBe(false);
  });

  it('ignores a forged X-Forwarded-For: 30 failures from one peer lock that peer, whatever the header says', async () => {
    for (let i = 0; i < 30; i++) {
      const failed = await login(backend.http, { 'x-forwarded-for': `198.51.100.${i}` }, 'wrong password', `nobody${i}@https.test`);
      expect(failed.status).toBe(401);
    }
    const locked = await login(backend.http, { 'x-forwarded-for': '203.0.113.7' });
    expect(locked.status).toBe(429);
  });
});

describe('behind a proxy in TRUST_PROXY', () => {
  let backend: Awaited<ReturnType<typeof startBackend>>;

  beforeAll(async () => {
    backend = await startBackend({ TRUST_PROXY: '127.0.0.1/32,::1' });
  });

  it("makes the session cookie Secure when the proxy says the client came over HTTPS", async () => {
    expect(isSecureCookie(await login(backend.http, { 'x-forwarded-proto': 'https' }))).toBe(true);
    expect(isSecureCookie(await login(backend.http, { 'x-forwarded-proto': 'http' }))).toBe(false);
  });

  it("counts sign-in failures and audits under the client IP the proxy reports", async () => {
    for (let i = 0; i < 30; i++) {
      const failed = await login(backend.http, { 'x-forwarded-for': `198.51.100.${i}` }, 'wrong password', `someone${i}@https.test`);
      expect(failed.status).toBe(401);
    }
    // Another client behind the same proxy is not locked out by those failures.
    expect((await login(backend.http, { 'x-forwarded-for': '203.0.113.7' })).status).toBe(200);
    const audit = await createAuditRepository(store.db).list({ limit: 100 });
    expect(audit.find((row) => row.action === 'auth.login' && row.ip === '203.0.113.7')).toBeDefined();
    expect(audit.some((row) => row.action === 'auth.login_failed' && row.ip === '198.51.100.3')).toBe(true);
  });
});
