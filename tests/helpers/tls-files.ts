import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { generate } from 'selfsigned';

/**
 * Certificates on disk for the reload tests (TLS_CERT_FILE/TLS_KEY_FILE), and the fingerprint a
 * listener presents, over implicit TLS or after a plain-text STARTTLS exchange.
 */

export interface CertificatePair {
  cert: string;
  key: string;
  /** SHA-256, as `getPeerCertificate().fingerprint256` prints it. */
  fingerprint: string;
}

export async function certificatePair(hostname: string): Promise<CertificatePair> {
  const pems = await generate([{ name: 'commonName', value: hostname }], { keySize: 2048, algorithm: 'sha256' });
  return { cert: pems.cert, key: pems.private, fingerprint: new crypto.X509Certificate(pems.cert).fingerprint256 };
}

/** Writes the pair in place, each file replaced in one rename as certificate tools do (certificate first). */
export function installPair(pair: { cert: string; key: string }, files: { certFile: string; keyFile: string }): void {
  for (const [file, content] of [[files.certFile, pair.cert], [files.keyFile, pair.key]] as const) {
    fs.writeFileSync(`${file}.new`, content);
    fs.renameSync(`${file}.new`, file);
  }
}

function handshake(options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...options, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}

/** The certificate an implicit-TLS listener (HTTPS, SMTPS, IMAPS) on loopback presents. */
export function servedFingerprint(port: number): Promise<string> {
  return handshake({ host: '127.0.0.1', port });
}

/**
 * The certificate presented after STARTTLS: each step sends its line (if any) and waits for a line
 * matching `until`; the last step's reply starts the handshake.
 */
export function starttlsFingerprint(port: number, steps: Array<{ send?: string; until: RegExp }>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffered = '';
    let step = 0;
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const lines = buffered.split('\r\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!steps[step]!.until.test(line)) continue;
        step++;
        if (step === steps.length) {
          socket.off('data', onData);
          handshake({ socket }).then(resolve, reject);
          return;
        }
        socket.write(`${steps[step]!.send}\r\n`);
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}
