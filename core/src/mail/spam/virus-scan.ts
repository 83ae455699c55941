import net from 'node:net';

/**
 * Virus scanning of received mail by clamd (issue 11), over its INSTREAM protocol: `zINSTREAM\0`,
 * the message in chunks each preceded by its length (4 bytes, big-endian), a zero length to end,
 * then one reply: `stream: OK`, `stream: <Name> FOUND`, or `<text> ERROR`. clamd is reached on a
 * unix socket (CLAMD_SOCKET) or host:port (CLAMD_HOST). What the MX does when clamd cannot answer
 * is its own setting (CLAMD_FAIL); here that is an `error` result.
 */

/** The Redis counter of messages refused as infected (the smtp-server has no /metrics of its own). */
export const VIRUS_REFUSED_COUNTER = 'mailyard:counter:smtp_virus_refused';

export type VirusScanResult =
  | { status: 'clean' }
  | { status: 'infected'; name: string }
  | { status: 'error'; message: string }
  /** Larger than clamd scans (its StreamMaxLength): not sent, so it is neither refused nor tempfailed forever. */
  | { status: 'unscanned'; message: string };

export interface ClamdOptions {
  /** A unix socket path, or `host:port`. */
  socket?: string;
  host?: string;
  /** Bound on one scan, connection included (default 30 s). */
  timeoutMs?: number;
  /** Bytes per INSTREAM chunk (default 64 KiB; clamd's StreamMaxLength bounds the total). */
  chunkBytes?: number;
  /**
   * Messages larger than this are not scanned (default 25 MiB, clamd's default StreamMaxLength):
   * clamd would answer "size limit exceeded", an error that CLAMD_FAIL=tempfail turns into a 451
   * the sender can never get past.
   */
  maxBytes?: number;
}

export interface VirusScanner {
  scan(raw: Buffer): Promise<VirusScanResult>;
}

/** The address a clamd option names: a unix path, or host and port. */
export function clamdAddress(options: Pick<ClamdOptions, 'socket' | 'host'>): net.NetConnectOpts {
  if (options.socket) return { path: options.socket };
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(options.host ?? '');
  if (!match) throw new Error(`CLAMD_HOST must be host:port, not ${JSON.stringify(options.host)}`);
  return { host: match[1]!, port: Number(match[2]) };
}

/** Parses clamd's reply to INSTREAM (without its terminating NUL). */
export function parseClamdReply(reply: string): VirusScanResult {
  const text = reply.replace(/\0+$/, '').trim();
  if (text === 'stream: OK') return { status: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(text);
  if (found) return { status: 'infected', name: found[1]! };
  return { status: 'error', message: text || 'clamd closed the connection without a reply' };
}

/** A scanner on one clamd; every scan is one connection. Never throws: failures are `error`. */
export function createClamdScanner(options: ClamdOptions): VirusScanner {
  const address = clamdAddress(options);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const chunkBytes = options.chunkBytes ?? 64 * 1024;
  const maxBytes = options.maxBytes ?? 25 * 1024 * 1024;
  return {
    scan(raw) {
      if (raw.length > maxBytes) return Promise.resolve({ status: 'unscanned', message: `${raw.length} bytes is over the ${maxBytes} bytes clamd scans` });
      return new Promise<VirusScanResult>((resolve) => {
        const replies: Buffer[] = [];
        let settled = false;
        const finish = (result: VirusScanResult) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          socket.destroy();
          resolve(result);
        };
        const socket = net.createConnection(address, () => {
          socket.write('zINSTREAM\0');
          for (let at = 0; at < raw.length; at += chunkBytes) {
            const chunk = raw.subarray(at, at + chunkBytes);
            const length = Buffer.alloc(4);
            length.writeUInt32BE(chunk.length);
            socket.write(length);
            socket.write(chunk);
          }
          socket.write(Buffer.alloc(4));
        });
        const timer = setTimeout(() => finish({ status: 'error', message: `clamd did not answer within ${timeoutMs} ms` }), timeoutMs);
        socket.on('data', (data: Buffer) => {
          replies.push(data);
          if (data.includes(0)) finish(parseClamdReply(Buffer.concat(replies).toString('utf8')));
        });
        socket.on('end', () => finish(parseClamdReply(Buffer.concat(replies).toString('utf8'))));
        socket.on('error', (err) => finish({ status: 'error', message: `clamd: ${err.message}` }));
      });
    },
  };
}
