import { literalAtLineEnd } from './parser.js';

/**
 * Frames the bytes a client sends into whole commands: a line, and when it ends in `{n}` (or
 * LITERAL+ `{n+}`) n bytes of literal and the line after them, until a line without one. A
 * synchronizing literal is invited with `+` only when it is within the limit; one over the limit
 * is refused before any of it is read (the client never gets the `+`). A non-synchronizing
 * literal over the limit, or an endless line, cannot be skipped safely: the connection is closed.
 * The session pulls frames (`next()`); the socket is paused while frames wait (back-pressure).
 */

export type Frame =
  /** A complete command (or continuation line), without its final CRLF. */
  | { kind: 'command'; raw: Buffer }
  /** A synchronizing literal over the limit: refused, nothing of it read; `tag` as far as it could be read. */
  | { kind: 'literal_too_big'; tag: string | null; size: number; limit: number }
  /** Unrecoverable framing: a non-synchronizing literal over the limit or a line over the limit. */
  | { kind: 'fatal'; reason: 'literal_too_big' | 'line_too_long' };

export interface CommandReaderOptions {
  /** The most literal bytes one command may carry, asked at each literal (it may depend on the session's state). */
  maxLiteralSize(): number;
  /** The longest line between literals. */
  maxLineLength: number;
  /** Called to invite a synchronizing literal (writes `+ ...`). */
  onContinue(): void;
  pause(): void;
  resume(): void;
}

const MAX_QUEUED_FRAMES = 16;

export class CommandReader {
  private buffer: Buffer = Buffer.alloc(0);
  private parts: Buffer[] = [];
  private literalLeft = 0;
  /** Literal bytes announced so far by the command being read. */
  private literalBytes = 0;
  private frames: Frame[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  private paused = false;

  constructor(private readonly options: CommandReaderOptions) {}

  push(chunk: Buffer): void {
    if (this.ended) return;
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.drain();
    if (this.frames.length >= MAX_QUEUED_FRAMES && !this.paused) {
      this.paused = true;
      this.options.pause();
    }
    this.wake();
  }

  /** The input ended (the socket closed). */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Forgets every byte and frame not yet taken (after STARTTLS, nothing sent in the clear is kept). */
  reset(): void {
    this.buffer = Buffer.alloc(0);
    this.parts = [];
    this.literalLeft = 0;
    this.literalBytes = 0;
    this.frames = [];
  }

  /** The next frame; null once the input has ended and nothing is left. */
  async next(): Promise<Frame | null> {
    for (;;) {
      const frame = this.frames.shift();
      if (frame) {
        if (this.paused && this.frames.length < MAX_QUEUED_FRAMES / 2) {
          this.paused = false;
          this.options.resume();
        }
        return frame;
      }
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  private fatal(reason: 'literal_too_big' | 'line_too_long'): void {
    this.frames.push({ kind: 'fatal', reason });
    this.ended = true;
    this.buffer = Buffer.alloc(0);
  }

  private drain(): void {
    while (!this.ended && this.buffer.length > 0) {
      if (this.literalLeft > 0) {
        const take = Math.min(this.literalLeft, this.buffer.length);
        this.parts.push(this.buffer.subarray(0, take));
        this.buffer = this.buffer.subarray(take);
        this.literalLeft -= take;
        continue;
      }
      const lf = this.buffer.indexOf(0x0a);
      if (lf < 0) {
        if (this.buffer.length > this.options.maxLineLength) this.fatal('line_too_long');
        return;
      }
      const lineWithEnd = this.buffer.subarray(0, lf + 1);
      this.buffer = this.buffer.subarray(lf + 1);
      const line = lineWithEnd.subarray(0, lineWithEnd.length - (lf > 0 && lineWithEnd[lf - 1] === 0x0d ? 2 : 1));
      if (line.length > this.options.maxLineLength) {
        this.fatal('line_too_long');
        return;
      }
      const literal = literalAtLineEnd(line.toString('latin1', Math.max(0, line.length - 30)));
      if (!literal) {
        this.parts.push(line);
        this.frames.push({ kind: 'command', raw: Buffer.concat(this.parts) });
        this.parts = [];
        this.literalBytes = 0;
        continue;
      }
      const limit = this.options.maxLiteralSize();
      if (this.literalBytes + literal.size > limit) {
        if (literal.nonSync) {
          this.fatal('literal_too_big');
          return;
        }
        const first = (this.parts[0] ?? line).toString('latin1', 0, 100);
        const tag = /^([^\s(){%*"\\+]+) /.exec(first)?.[1] ?? null;
        this.parts = [];
        this.literalBytes = 0;
        this.frames.push({ kind: 'literal_too_big', tag, size: literal.size, limit });
        continue;
      }
      this.parts.push(line, Buffer.from('\r\n'));
      this.literalLeft = literal.size;
      this.literalBytes += literal.size;
      if (!literal.nonSync) this.options.onContinue();
    }
  }
}
