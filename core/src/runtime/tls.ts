import fs from 'node:fs';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  selfSigned: boolean;
}

/**
 * The configured certificate, or a self-signed one generated into the data directory on first
 * start (STARTTLS works out of the box; operators replace it with TLS_CERT_FILE/TLS_KEY_FILE).
 */
export async function loadTlsMaterial(options: { certFile?: string; keyFile?: string; dataDir: string; hostname: string }): Promise<TlsMaterial> {
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) throw new Error('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
    try {
      return { cert: fs.readFileSync(options.certFile), key: fs.readFileSync(options.keyFile), selfSigned: false };
    } catch (err) {
      throw new Error(`cannot read the TLS certificate or key: ${(err as Error).message}`, { cause: err });
    }
  }
  const dir = path.join(options.dataDir, 'tls');
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  if (!fs.existsSync(certPath) || !fs.existsSync(keyPath)) {
    const pems = await generate([{ name: 'commonName', value: options.hostname }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: options.hostname }, { type: 7, ip: '127.0.0.1' }] }],
    });
    // Several services share DATA_DIR and may start at once (SMTP, IMAP): the pair is written
    // apart and moved into place in one rename, so that every service reads one matching pair.
    fs.mkdirSync(options.dataDir, { recursive: true });
    const staging = fs.mkdtempSync(path.join(options.dataDir, 'tls-'));
    fs.writeFileSync(path.join(staging, 'key.pem'), pems.private, { mode: 0o600 });
    fs.writeFileSync(path.join(staging, 'cert.pem'), pems.cert);
    try {
      fs.renameSync(staging, dir);
    } catch (err) {
      // Another service's pair got there first (or a partial directory is in the way).
      fs.rmSync(staging, { recursive: true, force: true });
      if (!fs.existsSync(certPath) || !fs.existsSync(keyPath)) throw err;
    }
  }
  return { cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath), selfSigned: true };
}

export function loadTlsMaterialFromConfig(config: { TLS_CERT_FILE?: string; TLS_KEY_FILE?: string; DATA_DIR: string; MAIL_HOSTNAME: string }): Promise<TlsMaterial> {
  return loadTlsMaterial({ certFile: config.TLS_CERT_FILE, keyFile: config.TLS_KEY_FILE, dataDir: config.DATA_DIR, hostname: config.MAIL_HOSTNAME });
}
