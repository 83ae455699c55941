import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The ACME files in DATA_DIR/acme (0700): the account key and the certificate with its key, one
 * file (0600) holding the private key then the chain, replaced in one rename, so that a reader
 * (every service follows it through `openTlsSource`) never sees a new certificate with an old key.
 */

export function acmeDir(dataDir: string): string {
  return path.join(dataDir, 'acme');
}

export function acmeCertificateFile(dataDir: string): string {
  return path.join(acmeDir(dataDir), 'certificate.pem');
}

export interface AcmeCertificate {
  /** The certificate chain, leaf first. */
  cert: Buffer;
  key: Buffer;
}

const PRIVATE_KEY_BLOCK = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]+?-----END \1PRIVATE KEY-----\s*/;

/** Reads the certificate file; throws when it is missing or lacks a key or a certificate. */
export function readAcmeCertificate(file: string): AcmeCertificate {
  const text = fs.readFileSync(file, 'utf8');
  const key = PRIVATE_KEY_BLOCK.exec(text)?.[0];
  const cert = text.replace(PRIVATE_KEY_BLOCK, '');
  if (!key || !cert.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${file} does not hold a private key and a certificate`);
  return { cert: Buffer.from(cert.trim() + '\n'), key: Buffer.from(key.trim() + '\n') };
}

/** Writes `content` to `file` (mode 0600) through a temporary file and one rename. */
function replaceFile(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const staging = `${file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(staging, content, { mode: 0o600 });
    fs.renameSync(staging, file);
  } finally {
    fs.rmSync(staging, { force: true });
  }
}

export function writeAcmeCertificate(dataDir: string, certificate: { cert: string; key: string }): void {
  replaceFile(acmeCertificateFile(dataDir), `${certificate.key.trim()}\n${certificate.cert.trim()}\n`);
}

/** The ACME account key (PEM), made by `create` on the first run and kept in DATA_DIR/acme. */
export async function loadAccountKey(dataDir: string, create: () => Promise<Buffer>): Promise<Buffer> {
  const file = path.join(acmeDir(dataDir), 'account-key.pem');
  if (fs.existsSync(file)) return fs.readFileSync(file);
  replaceFile(file, (await create()).toString());
  return fs.readFileSync(file);
}

/** The names a certificate covers (its DNS subject alternative names) and when it expires. */
export function describeCertificate(cert: Buffer): { names: string[]; validTo: Date; serial: string } {
  const x509 = new crypto.X509Certificate(cert);
  const names = (x509.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
  return { names, validTo: new Date(x509.validTo), serial: x509.serialNumber };
}
