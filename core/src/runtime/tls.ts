import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import type { Logger } from '../log/logger.js';
import { acmeCertificateFile, readAcmeCertificate } from './acme/acme-files.js';

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
 * a restart. TLS_CERT_FILE/TLS_KEY_FILE are followed, or with ACME the certificate the backend
 * obtains into DATA_DIR/acme (the self-signed fallback serves until it first appears; it never changes).
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
  /** Follow the ACME certificate in DATA_DIR/acme (when no files are configured). */
  acme?: boolean;
}

/** The pair that is followed as it changes: the configured files, or the ACME certificate file. */
function followedPair(options: TlsSourceOptions): { files: string[]; read(): { cert: Buffer; key: Buffer } } | undefined {
  const { certFile, keyFile } = options;
  if (certFile && keyFile) return { files: [certFile, keyFile], read: () => ({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }) };
  if (!options.acme) return undefined;
  const file = acmeCertificateFile(options.dataDir);
  return { files: [file], read: () => readAcmeCertificate(file) };
}

/**
 * Loads the certificate (see `loadTlsMaterial`) and polls the followed files (the configured pair,
 * or the ACME certificate file): when one changes and the pair reads and matches, it becomes
 * current and listeners hear of it. A pair caught half-written
 * (a new certificate with the old key) is skipped with a warning: the next change completes it.
 */
export async function openTlsSource(options: TlsSourceOptions, log: Logger): Promise<TlsSource> {
  let material = await loadTlsMaterial(options);
  const listeners = new Set<(material: TlsMaterial) => void>();
  const pair = followedPair(options);
  const files = pair?.files ?? [];
  if (pair && material.selfSigned) {
    // ACME: its certificate when one was obtained already, else the self-signed one until it is.
    try {
      const first = pair.read();
      tls.createSecureContext(first);
      material = { ...first, selfSigned: false };
    } catch {
      log.info({ event: 'tls.acme_pending', file: files[0] });
    }
  }

  const reload = (): void => {
    let next: TlsMaterial;
    try {
      next = { ...pair!.read(), selfSigned: false };
      if (next.cert.equals(material.cert) && next.key.equals(material.key)) return;
      tls.createSecureContext({ cert: next.cert, key: next.key });
    } catch (err) {
      log.warn({ event: 'tls.reload_failed', files, err: (err as Error).message });
      return;
    }
    material = next;
    log.info({ event: 'tls.reloaded', files });
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
  config: { TLS_CERT_FILE?: string; TLS_KEY_FILE?: string; TLS_RELOAD_INTERVAL: number; ACME_EMAIL?: string; DATA_DIR: string; MAIL_HOSTNAME: string },
  log: Logger,
): Promise<TlsSource> {
  if (config.ACME_EMAIL && (config.TLS_CERT_FILE || config.TLS_KEY_FILE)) {
    return Promise.reject(new Error('set either ACME_EMAIL (a certificate by ACME) or TLS_CERT_FILE/TLS_KEY_FILE, not both'));
  }
  return openTlsSource(
    { certFile: config.TLS_CERT_FILE, keyFile: config.TLS_KEY_FILE, acme: Boolean(config.ACME_EMAIL), reloadIntervalMs: config.TLS_RELOAD_INTERVAL, dataDir: config.DATA_DIR, hostname: config.MAIL_HOSTNAME },
    log,
  );
}
