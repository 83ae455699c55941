import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { afterEach, describe, expect, it } from 'vitest';
import { acmeCertificateFile, readAcmeCertificate, writeAcmeCertificate } from './acme-files.js';
import { certificateNames, renewalReason } from './acme-issuer.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const DAY = 86_400_000;

async function storeCertificate(names: string[], days: number): Promise<string> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'acme-issuer-'));
  dirs.push(dataDir);
  const notAfterDate = new Date(Date.now() + days * DAY);
  const pems = await generate([{ name: 'commonName', value: names[0]! }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate,
    extensions: [{ name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) }],
  });
  writeAcmeCertificate(dataDir, { cert: pems.cert, key: pems.private });
  return dataDir;
}

describe('certificateNames', () => {
  it('puts MAIL_HOSTNAME first and keeps only the service names that resolve', async () => {
    const resolving = new Set(['mta-sts.a.test', 'autoconfig.a.test', 'autodiscover.a.test', 'mta-sts.b.test']);
    const result = await certificateNames('MX.a.test', ['a.test', 'B.test'], async (name) => resolving.has(name));
    expect(result.names).toEqual(['mx.a.test', 'mta-sts.a.test', 'autoconfig.a.test', 'autodiscover.a.test', 'mta-sts.b.test']);
    expect(result.skipped).toEqual(['autoconfig.b.test', 'autodiscover.b.test']);
  });
});

describe('renewalReason', () => {
  it('asks for a certificate when none is stored', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'acme-issuer-'));
    dirs.push(dataDir);
    expect(renewalReason(dataDir, ['mx.a.test'], 30 * DAY)).toBe('missing');
  });

  it('keeps a stored certificate that covers every name and expires after the renewal window', async () => {
    const dataDir = await storeCertificate(['mx.a.test', 'mta-sts.a.test'], 60);
    expect(renewalReason(dataDir, ['mx.a.test', 'mta-sts.a.test'], 30 * DAY)).toBeNull();
  });

  it('renews within the window before expiry (30 days by default)', async () => {
    const dataDir = await storeCertificate(['mx.a.test'], 20);
    expect(renewalReason(dataDir, ['mx.a.test'], 30 * DAY)).toBe('expiry');
    expect(renewalReason(dataDir, ['mx.a.test'], 10 * DAY)).toBeNull();
  });

  it('renews when a name is missing (a domain was added)', async () => {
    const dataDir = await storeCertificate(['mx.a.test'], 60);
    expect(renewalReason(dataDir, ['mx.a.test', 'mta-sts.b.test'], 30 * DAY)).toBe('names');
  });
});

describe('the stored certificate file', () => {
  it('holds the key and the chain in one 0600 file, read back apart', async () => {
    const dataDir = await storeCertificate(['mx.a.test'], 60);
    const file = acmeCertificateFile(dataDir);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const { cert, key } = readAcmeCertificate(file);
    expect(key.toString()).toMatch(/^-----BEGIN (RSA )?PRIVATE KEY-----/);
    expect(cert.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(cert.toString()).not.toContain('PRIVATE KEY');
  });

  it('refuses a file without a certificate', async () => {
    const dataDir = await storeCertificate(['mx.a.test'], 60);
    const file = acmeCertificateFile(dataDir);
    fs.writeFileSync(file, readAcmeCertificate(file).key);
    expect(() => readAcmeCertificate(file)).toThrow(/does not hold/);
  });
});
