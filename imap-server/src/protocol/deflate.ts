import type net from 'node:net';
import zlib from 'node:zlib';

/**
 * The server's half of COMPRESS=DEFLATE (RFC 4978): ONE raw DEFLATE stream for the connection,
 * each burst of responses deflated and ended with a sync flush in ONE write to the stream (the
 * stream's flush mode), so the client can read it at once. Every write to a zlib stream is a trip
 * through the thread pool that costs tens of µs of CPU however small the burst: a write followed by
 * a separate flush was two.
 */

export interface OutputDeflater {
  /** Deflates a burst (ending it with a sync flush) on to the sink; false when the caller should wait for `drain`. */
  write(burst: Buffer): boolean;
  /** Ends the stream (its final block) and then the sink. */
  end(): void;
  /** 'drain' after a `write` that returned false; 'close' when the sink is gone. */
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/**
 * zlib's fastest level, as nginx's gzip default: on IMAP's text (envelopes, headers, prose) it
 * gives output ~7–12 % larger than the default level 6 (Dovecot's) at half to two thirds the CPU. In the
 * IMAP bench (imapflow turns COMPRESS on) deflating was ~18 % of imap-server's CPU at level 6;
 * alternating runs with level 1 used ~15 % less imap-server CPU an operation (bench/README.md).
 */
const DEFLATE_LEVEL = 1;

/**
 * A deflater writing to `sink` (the socket); `onError` is told when zlib fails (the connection is
 * then unusable).
 */
export function createOutputDeflater(sink: net.Socket, onError: (err: Error) => void): OutputDeflater {
  const stream = zlib.createDeflateRaw({ flush: zlib.constants.Z_SYNC_FLUSH, level: DEFLATE_LEVEL });
  stream.on('error', onError);
  let closed = false;
  // The connection gone (ended or not): zlib's memory goes back at once, not when the stream is collected.
  sink.once('close', () => {
    closed = true;
    stream.close();
  });
  stream.pipe(sink);
  return {
    // Once closed, what is written goes nowhere (and there is nothing to wait for).
    write: (burst) => closed || stream.write(burst),
    end: () => void (closed || stream.end()),
    once: (event, listener) => stream.once(event, listener),
    off: (event, listener) => stream.off(event, listener),
  };
}
