import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';

/**
 * A raw IMAP client for transcript tests: sends lines (and literals) exactly as written and
 * collects the server's lines, so a test can assert `a1 UID FETCH 1:* (FLAGS)` → the lines.
 */
export interface ImapTranscriptClient {
  /** Lines received so far that no call has taken yet. */
  pending(): string[];
  /** The greeting (the first line). */
  greeting(): Promise<string>;
  /** Sends `tag command` and resolves with every line up to and including the tagged one. */
  command(line: string): Promise<string[]>;
  /** Writes raw bytes. */
  write(data: string | Buffer): void;
  /** Resolves with the lines up to the first that `match` accepts (inclusive). */
  until(match: (line: string) => boolean, timeoutMs?: number): Promise<string[]>;
  /** Upgrades to TLS (after a STARTTLS OK). */
  startTls(): Promise<void>;
  /** Turns DEFLATE on both ways (after a COMPRESS DEFLATE OK), as RFC 4978 clients do. */
  startCompression(): void;
  /** Bytes received from the server so far, on the wire (compressed once compression is on). */
  bytesReceived(): number;
  /** Resolves when the server closed the connection. */
  closed(): Promise<void>;
  close(): void;
  /** This end's port (which of several server processes took the connection: see imap-processes). */
  localPort: number;
}

export async function connectImap(port: number, options: { tls?: boolean } = {}): Promise<ImapTranscriptClient> {
  let socket: net.Socket = options.tls ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once(options.tls ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
  });
  let buffer = '';
  const lines: string[] = [];
  let notify: (() => void) | null = null;
  let isClosed = false;
  let wireBytes = 0;
  /** Writes to the server: the socket, or the deflate stream in front of it. */
  let send = (data: string | Buffer) => void socket.write(data);
  const closedPromise = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    let i: number;
    while ((i = buffer.indexOf('\r\n')) >= 0) {
      lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 2);
    }
    notify?.();
  };
  const countBytes = (chunk: Buffer) => (wireBytes += chunk.length);
  socket.on('data', countBytes);
  socket.on('data', onData);
  /** With compression on, the connection counts as closed once everything received is inflated. */
  let inflated: Promise<void> | null = null;
  socket.on('close', () => {
    void (inflated ?? Promise.resolve()).then(() => {
      isClosed = true;
      notify?.();
    });
  });
  socket.on('error', () => undefined);

  async function until(match: (line: string) => boolean, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = lines.findIndex(match);
      if (index >= 0) return lines.splice(0, index + 1);
      if (isClosed) throw new Error(`connection closed; got: ${JSON.stringify(lines)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching line within ${timeoutMs} ms; got: ${JSON.stringify(lines)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        notify = () => {
          clearTimeout(timer);
          notify = null;
          resolve();
        };
      });
    }
  }

  return {
    localPort: socket.localPort!,
    pending: () => lines.splice(0),
    greeting: async () => (await until(() => true))[0]!,
    async command(line) {
      const tag = line.split(' ')[0]!;
      send(`${line}\r\n`);
      return until((l) => l.startsWith(`${tag} `));
    },
    write: (data) => send(data),
    until,
    async startTls() {
      socket.off('data', onData);
      const upgraded = tls.connect({ socket, rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => {
        upgraded.once('secureConnect', () => resolve());
        upgraded.once('error', reject);
      });
      upgraded.on('data', onData);
      socket = upgraded;
    },
    startCompression() {
      const inflate = zlib.createInflateRaw();
      const deflate = zlib.createDeflateRaw();
      socket.off('data', onData);
      socket.on('data', (chunk: Buffer) => inflate.write(chunk));
      inflate.on('data', onData);
      inflated = new Promise<void>((resolve) => {
        inflate.once('end', resolve);
        inflate.once('error', () => resolve());
        socket.once('close', () => inflate.end());
      });
      deflate.on('data', (chunk: Buffer) => socket.write(chunk));
      send = (data) => {
        deflate.write(data);
        deflate.flush(zlib.constants.Z_SYNC_FLUSH);
      };
    },
    bytesReceived: () => wireBytes,
    closed: () => closedPromise,
    close: () => socket.destroy(),
  };
}
