import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { freePort } from '../../core/src/local/process-utils.js';
import { eventually } from './services.js';

/**
 * A private ACME server for tests: Debian's pebble (Let's Encrypt's test CA) on loopback, its
 * HTTP-01 validation pointed at `httpPort` (our backend's HTTP port) and its DNS at `dnsServer`
 * (a dnsmasq mapping the test names to 127.0.0.1). Its own HTTPS certificate is made here; `caFile`
 * is what a client trusts for it (ACME_CA_FILE). Random nonce rejection and validation sleeps are off.
 */

export const PEBBLE = '/usr/bin/pebble';

export interface TestPebble {
  directoryUrl: string;
  caFile: string;
  pid: number;
  /** The intermediate CA pebble issues with (it makes a fresh one each start). */
  intermediate(): Promise<crypto.X509Certificate>;
  output(): string;
  /** Stops this pebble by its PID and removes its files. */
  stop(): Promise<void>;
}

function get(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

export async function startPebble(options: { httpPort: number; dnsServer: string }): Promise<TestPebble> {
  // npm test installs pebble (scripts/test.mjs); a test that needs it fails without it, never skips.
  if (!fs.existsSync(PEBBLE)) throw new Error(`pebble is not installed at ${PEBBLE}: run npm test (it installs pebble) or apt-get install pebble`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-pebble-'));
  const pems = await generate([{ name: 'commonName', value: 'pebble.test' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'basicConstraints', cA: true }, { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  const caFile = path.join(dir, 'cert.pem');
  fs.writeFileSync(caFile, pems.cert);
  fs.writeFileSync(path.join(dir, 'key.pem'), pems.private, { mode: 0o600 });
  const ports = { acme: await freePort(), management: await freePort(), tls: await freePort() };
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${ports.acme}`,
      managementListenAddress: `127.0.0.1:${ports.management}`,
      certificate: caFile,
      privateKey: path.join(dir, 'key.pem'),
      httpPort: options.httpPort,
      tlsPort: ports.tls,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  };
  fs.writeFileSync(path.join(dir, 'pebble-config.json'), JSON.stringify(config));
  const child = spawn(PEBBLE, ['-config', path.join(dir, 'pebble-config.json'), '-dnsserver', options.dnsServer], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PEBBLE_VA_NOSLEEP: '1', PEBBLE_VA_ALWAYS_VALID: '0', PEBBLE_WFE_NONCEREJECT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk: Buffer) => (out = (out + chunk.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const ca = Buffer.from(pems.cert);
  const directoryUrl = `https://127.0.0.1:${ports.acme}/dir`;
  try {
    await eventually(async () => child.exitCode === null && (await get(directoryUrl, ca).then((r) => r.status === 200, () => false)), {
      timeoutMs: 15_000,
      describe: () => `pebble did not answer: ${out}`,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    directoryUrl,
    caFile,
    pid: child.pid!,
    output: () => out,
    async intermediate() {
      const answer = await get(`https://127.0.0.1:${ports.management}/intermediates/0`, ca);
      if (answer.status !== 200) throw new Error(`pebble management API answered ${answer.status}`);
      return new crypto.X509Certificate(answer.body);
    },
    stop,
  };
}
