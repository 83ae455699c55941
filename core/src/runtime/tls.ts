import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import type { Logger } from '../log/logger.js';

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

/**
 * The certificate in use, followed as it changes: HTTPS, SMTP and IMAP read `current()` at start and
 * apply each new pair from `onChange` to their listeners, so a renewed certificate is served without
 * a restart. Only TLS_CERT_FILE/TLS_KEY_FILE are followed (the self-signed fallback never changes).
 */
export interface TlsSource {
  current(): TlsMaterial;
  /** Called with each new valid pair; returns a function that stops the calls. */
  onChange(listener: (material: TlsMaterial) => void): () => void;
  close(): void;
}

export interface TlsSourceOptions {
  certFile?: string;
  keyFile?: string;
  dataDir: string;
  hostname: string;
  /** How often the files' metadata is polled (a rename over a file is seen too); default 30 s. */
  reloadIntervalMs?: number;
}

/**
 * Loads the certificate (see `loadTlsMaterial`) and, for files, polls them: when either changes and
 * the pair reads and matches, it becomes current and listeners hear of it. A pair caught half-written
 * (a new certificate with the old key) is skipped with a warning: the next change completes it.
 */
export async function openTlsSource(options: TlsSourceOptions, log: Logger): Promise<TlsSource> {
  let material = await loadTlsMaterial(options);
  const listeners = new Set<(material: TlsMaterial) => void>();
  const { certFile, keyFile } = options;
  const files = material.selfSigned || !certFile || !keyFile ? [] : [certFile, keyFile];

  const reload = (): void => {
    let next: TlsMaterial;
    try {
      next = { cert: fs.readFileSync(certFile!), key: fs.readFileSync(keyFile!), selfSigned: false };
      if (next.cert.equals(material.cert) && next.key.equals(material.key)) return;
      tls.createSecureContext({ cert: next.cert, key: next.key });
    } catch (err) {
      log.warn({ event: 'tls.reload_failed', certFile, keyFile, err: (err as Error).message });
      return;
    }
    material = next;
    log.info({ event: 'tls.reloaded', certFile });
    for (const listener of listeners) listener(material);
  };
  const interval = options.reloadIntervalMs ?? 30_000;
  for (const file of files) fs.watchFile(file, { interval, persistent: false }, reload);

  return {
    current: () => material,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      for (const file of files) fs.unwatchFile(file, reload);
      listeners.clear();
    },
  };
}

export function openTlsSourceFromConfig(
  config: { TLS_CERT_FILE?: string; TLS_KEY_FILE?: string; TLS_RELOAD_INTERVAL: number; DATA_DIR: string; MAIL_HOSTNAME: string },
  log: Logger,
): Promise<TlsSource> {
  return openTlsSource({ certFile: config.TLS_CERT_FILE, keyFile: config.TLS_KEY_FILE, reloadIntervalMs: config.TLS_RELOAD_INTERVAL, dataDir: config.DATA_DIR, hostname: config.MAIL_HOSTNAME }, log);
}
