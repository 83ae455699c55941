import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../tests/helpers/services.js';
import { pino } from 'pino';
import { writeAcmeCertificate } from './acme/acme-files.js';
import { loadTlsMaterial, openTlsSource, openTlsSourceFromConfig } from './tls.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('loadTlsMaterial', () => {
  it('gives services that start at once on one DATA_DIR the same matching self-signed pair', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-race-'));
    dirs.push(dataDir);
    const pairs = await Promise.all([1, 2, 3].map(() => loadTlsMaterial({ dataDir, hostname: 'mx.race.test' })));
    for (const pair of pairs) {
      expect(pair.selfSigned).toBe(true);
      expect(pair.cert.equals(pairs[0]!.cert)).toBe(true);
      expect(new crypto.X509Certificate(pair.cert).checkPrivateKey(crypto.createPrivateKey(pair.key))).toBe(true);
    }
    expect(fs.readdirSync(dataDir)).toEqual(['tls']);
  });
});

describe('openTlsSource', () => {
  const pair = async () => {
    const pems = await generate([{ name: 'commonName', value: 'mx.source.test' }], { keySize: 2048, algorithm: 'sha256' });
    return { cert: pems.cert, key: pems.private };
  };

  it('follows TLS_CERT_FILE/TLS_KEY_FILE: a mismatched pair is skipped, a matching one becomes current and is announced', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-source-'));
    dirs.push(dir);
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    const first = await pair();
    const second = await pair();
    fs.writeFileSync(certFile, first.cert);
    fs.writeFileSync(keyFile, first.key);
    const logged: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) });
    const source = await openTlsSource({ certFile, keyFile, dataDir: dir, hostname: 'mx.source.test', reloadIntervalMs: 50 }, log);
    try {
      const announced: string[] = [];
      source.onChange((material) => announced.push(material.cert.toString()));
      expect(source.current()).toMatchObject({ selfSigned: false });
      expect(source.current().cert.toString()).toBe(first.cert);

      // Each write is repeated until seen: a write that lands before the poller's first look at the
      // file (a loaded machine) is no change to it.
      await eventually(
        async () => {
          fs.writeFileSync(certFile, second.cert);
          return logged.some((line) => line.includes('"tls.reload_failed"'));
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      expect(source.current().cert.toString()).toBe(first.cert);
      expect(announced).toEqual([]);

      await eventually(
        async () => {
          fs.writeFileSync(keyFile, second.key);
          return source.current().cert.toString() === second.cert;
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      expect(announced).toEqual([second.cert]);
    } finally {
      source.close();
    }
  });

  it('with ACME, serves the self-signed fallback until the ACME certificate appears in DATA_DIR, then that one (trusted)', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-acme-'));
    dirs.push(dataDir);
    const source = await openTlsSource({ dataDir, hostname: 'mx.source.test', acme: true, reloadIntervalMs: 50 }, pino({ level: 'silent' }));
    try {
      expect(source.current().selfSigned).toBe(true);
      const announced: boolean[] = [];
      source.onChange((material) => announced.push(material.selfSigned));
      const issued = await pair();
      writeAcmeCertificate(dataDir, issued);
      await eventually(async () => source.current().cert.toString().trim() === issued.cert.trim(), { timeoutMs: 10_000 });
      expect(source.current().selfSigned).toBe(false);
      expect(announced).toEqual([false]);
    } finally {
      source.close();
    }
    // A service started later takes the ACME certificate at once.
    const later = await openTlsSource({ dataDir, hostname: 'mx.source.test', acme: true }, pino({ level: 'silent' }));
    later.close();
    expect(later.current().selfSigned).toBe(false);
  });

  it('refuses ACME_EMAIL together with TLS_CERT_FILE/TLS_KEY_FILE', async () => {
    const config = { ACME_EMAIL: 'admin@source.test', TLS_CERT_FILE: '/x/cert.pem', TLS_KEY_FILE: '/x/key.pem', TLS_RELOAD_INTERVAL: 1000, DATA_DIR: os.tmpdir(), MAIL_HOSTNAME: 'mx.source.test' };
    await expect(openTlsSourceFromConfig(config, pino({ level: 'silent' }))).rejects.toThrow(/either ACME_EMAIL .* or TLS_CERT_FILE\/TLS_KEY_FILE, not both/);
  });
});
