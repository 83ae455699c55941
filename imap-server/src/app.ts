import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { createImapServices, listenOn, type ImapServiceDeps, type ImapServices, type Logger } from '@mailyard/core';
import { createLocalSlots, type ConnectionSlots } from './connection-slots.js';
import { ImapSession, type SessionIo, type UserConnections } from './handlers/session.js';
import { StructureCache } from './handlers/structure-cache.js';
import type { ImapMetrics } from './metrics.js';
import { CommandReader } from './protocol/command-reader.js';
import { createOutputDeflater, type OutputDeflater } from './protocol/deflate.js';

/**
 * The IMAP listeners: IMAP_PORT (plain until STARTTLS) and IMAPS_PORT (implicit TLS, RFC 8314),
 * one session per connection (handlers/session.ts) over a CommandReader. The connection caps
 * (per client IP at connect, per user at sign-in) and the idle timeout (RFC 3501: at least 30
 * minutes, IDLE included) are enforced here, and so are the two layers a connection can gain:
 * TLS (STARTTLS) and DEFLATE (COMPRESS, RFC 4978: raw deflate both ways, each burst of responses
 * deflated with a sync flush (protocol/deflate.ts) so the client can read it at once; the inflated input is paused with
 * the socket, so a small compressed command cannot inflate without bound).
 */

/** Responses gathered before they go through deflate (see startCompression). */
const COMPRESS_BURST_BYTES = 64 * 1024;

export interface ImapListenerOptions {
  hostname: string;
  tls: { key: Buffer; cert: Buffer };
  /** LOGIN/AUTHENTICATE before TLS (off by default). */
  allowPlaintextAuth?: boolean;
  maxConnectionsPerIp?: number;
  maxConnectionsPerUser?: number;
  /** The largest literal accepted (APPEND). */
  maxLiteralSize?: number;
  idleTimeoutMs?: number;
  /** Counts connections and commands (metrics.ts); absent: not counted. */
  metrics?: ImapMetrics;
  /** Where the connection caps are counted (connection-slots.ts); absent: in this process, with the two caps above. */
  slots?: ConnectionSlots;
}

export interface ImapListener {
  imap: net.Server;
  imaps: tls.Server;
  listen(ports: { imap: number; imaps: number }, host: string): Promise<{ imap: number; imaps: number }>;
  /** Serves a new certificate to connections (and STARTTLS upgrades) from now on. */
  updateTls(material: { key: Buffer; cert: Buffer }): void;
  close(): Promise<void>;
}

export const IMAP_DEFAULTS = {
  maxConnectionsPerIp: 50,
  maxConnectionsPerUser: 20,
  maxLiteralSize: 50 * 1024 * 1024,
  /** Before sign-in a command needs no more than a user name and a password. */
  maxLiteralSizeBeforeLogin: 8 * 1024,
  idleTimeoutMs: 30 * 60 * 1000,
  maxLineLength: 64 * 1024,
};

/** The IMAP server on the real store (tests call this; start.ts listens). */
export function buildImapApp(deps: ImapServiceDeps, options: ImapListenerOptions): ImapListener {
  return buildImapListener({ services: createImapServices(deps), log: deps.log }, options);
}

/** The listeners on the services they are given, without listening (transcript tests give in-memory fakes). */
export function buildImapListener(deps: { services: ImapServices; log: Logger }, options: ImapListenerOptions): ImapListener {
  const settings = { ...IMAP_DEFAULTS, ...stripUndefined(options) };
  const { log } = deps;
  const { metrics } = options;
  let secureContext = tls.createSecureContext({ key: options.tls.key, cert: options.tls.cert });
  const slots = options.slots ?? createLocalSlots({ ip: settings.maxConnectionsPerIp, user: settings.maxConnectionsPerUser });
  const userConnections: UserConnections = {
    acquire: (userId) => slots.acquire('user', String(userId)),
    release: (userId) => slots.release('user', String(userId)),
  };
  // ENVELOPE/BODYSTRUCTURE by message id for every session of this listener (a message's bytes never change).
  const structures = new StructureCache();
  const sessions = new Set<{ bye(): void }>();
  let shuttingDown = false;

  /** Takes the client IP's slot (in this process: at once; in a cluster: one round trip to the primary), then serves. */
  function admit(socket: net.Socket, secure: boolean): void {
    const ip = socket.remoteAddress ?? 'unknown';
    socket.on('error', (err) => log.debug({ event: 'imap.socket_error', err: err.message }));
    if (metrics) {
      metrics.connectionOpened();
      socket.once('close', () => metrics.connectionClosed());
    }
    const refuse = () => void socket.end(shuttingDown ? '* BYE Server shutting down\r\n' : '* BYE Too many connections from your address\r\n');
    if (shuttingDown) return refuse();
    const admitted = (ok: boolean) => {
      if (!ok || shuttingDown || socket.destroyed) {
        if (ok) slots.release('ip', ip);
        return refuse();
      }
      serve(socket, secure, ip);
    };
    const taken = slots.acquire('ip', ip);
    if (typeof taken === 'boolean') admitted(taken);
    else void taken.then(admitted);
  }

  function serve(socket: net.Socket, secure: boolean, ip: string): void {
    let current: net.Socket = socket;
    let isSecure = secure;
    let signedIn = () => false;
    /** Where responses go: the socket, or the deflate stream in front of it once COMPRESS is on. */
    let out: { write(data: Buffer | string): boolean; once(event: 'drain' | 'close', listener: () => void): unknown; off(event: 'drain' | 'close', listener: () => void): unknown } = current;
    let inflate: zlib.InflateRaw | null = null;
    let deflate: OutputDeflater | null = null;
    /** Hands the responses gathered for deflate on to it (before it ends). */
    let flushGathered = () => {};
    const reader = new CommandReader({
      maxLiteralSize: () => (signedIn() ? settings.maxLiteralSize : Math.min(settings.maxLiteralSize, settings.maxLiteralSizeBeforeLogin)),
      maxLineLength: settings.maxLineLength,
      onContinue: () => void out.write('+ Ready for literal data\r\n'),
      pause: () => {
        current.pause();
        inflate?.pause();
      },
      resume: () => {
        current.resume();
        inflate?.resume();
      },
    });
    const onData = (chunk: Buffer) => reader.push(chunk);
    current.on('data', onData);
    socket.on('close', () => reader.end());
    const end = () => {
      if (deflate) {
        flushGathered();
        deflate.end(); // then the socket ends, once the deflate stream is flushed into it
      }
      else {
        current.end();
        current.destroySoon();
      }
    };
    socket.setTimeout(settings.idleTimeoutMs, () => {
      out.write('* BYE Idle timeout, closing\r\n');
      end();
    });

    const io: SessionIo = {
      ip,
      secure: () => isSecure,
      compressed: () => deflate !== null,
      write: (data) =>
        new Promise<void>((resolve) => {
          if (current.destroyed) return resolve();
          if (out.write(data)) return resolve();
          const done = () => {
            out.off('drain', done);
            out.off('close', done);
            resolve();
          };
          out.once('drain', done);
          out.once('close', done);
        }),
      startTls: () =>
        new Promise<void>((resolve, reject) => {
          socket.off('data', onData);
          reader.reset();
          const upgraded = new tls.TLSSocket(socket, { isServer: true, secureContext });
          upgraded.once('secure', () => {
            isSecure = true;
            current = upgraded;
            out = upgraded;
            upgraded.on('data', onData);
            resolve();
          });
          upgraded.once('error', reject);
          upgraded.on('error', (err) => log.debug({ event: 'imap.tls_error', err: err.message }));
        }),
      startCompression: () => {
        const input = zlib.createInflateRaw();
        const fail = (err: Error) => {
          log.info({ event: 'imap.compression_failed', err: err.message });
          current.destroy();
        };
        const output = createOutputDeflater(current, fail);
        input.on('error', fail);
        current.off('data', onData);
        current.on('data', (chunk: Buffer) => input.write(chunk));
        input.on('data', onData);
        // A burst of responses goes through deflate as ONE write (one sync flush, one socket write).
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        let flushing = false;
        const writePending = () => {
          const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
          pending = [];
          pendingBytes = 0;
          return output.write(chunk);
        };
        const write = (data: Buffer | string) => {
          const bytes = typeof data === 'string' ? Buffer.from(data) : data;
          pending.push(bytes);
          pendingBytes += bytes.length;
          if (!flushing) {
            flushing = true;
            setImmediate(() => {
              flushing = false;
              if (pendingBytes > 0) writePending();
            });
          }
          // Past a burst's worth, hand it on now: the stream's answer is the back-pressure ('drain').
          return pendingBytes < COMPRESS_BURST_BYTES || writePending();
        };
        out = { write, once: (event, listener) => output.once(event, listener), off: (event, listener) => output.off(event, listener) };
        inflate = input;
        deflate = output;
        flushGathered = () => void (pendingBytes > 0 && writePending());
      },
      next: () => reader.next(),
      close: end,
    };
    const session = new ImapSession(io, { services: deps.services, log, settings: { hostname: options.hostname, allowPlaintextAuth: settings.allowPlaintextAuth ?? false }, userConnections, structures, onCommand: metrics?.command });
    signedIn = () => session.state !== 'not-authenticated';
    const entry = {
      bye: () => {
        void session.send('* BYE Server shutting down').then(() => session.end());
      },
    };
    sessions.add(entry);
    socket.once('close', () => {
      sessions.delete(entry);
      slots.release('ip', ip);
    });
    session.run().catch((err: Error) => {
      log.warn({ event: 'imap.session_failed', err: err.message });
      socket.destroy();
    });
  }

  const imap = net.createServer((socket) => admit(socket, false));
  const imaps = tls.createServer({ key: options.tls.key, cert: options.tls.cert }, (socket) => admit(socket, true));
  for (const [name, server] of [['imap', imap], ['imaps', imaps]] as const) {
    server.on('error', (err) => log.warn({ event: 'imap.server_error', listener: name, err: err.message }));
  }
  imaps.on('tlsClientError', (err) => log.debug({ event: 'imap.tls_error', err: err.message }));

  return {
    imap,
    imaps,
    async listen(ports, host) {
      return { imap: await listenOn(imap, ports.imap, host), imaps: await listenOn(imaps, ports.imaps, host) };
    },
    updateTls({ key, cert }) {
      secureContext = tls.createSecureContext({ key, cert });
      imaps.setSecureContext({ key, cert });
    },
    async close() {
      shuttingDown = true;
      const closed = Promise.all([imap, imaps].map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
      for (const s of [...sessions]) s.bye();
      await closed;
    },
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
