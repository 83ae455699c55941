import type { Logger } from '../log/logger.js';

/** Longest wait between two tries. */
const RETRY_MAX_MS = 10_000;

export interface EnqueueRetryOptions<T> {
  /** Adds the queue jobs for these items; throws when Redis does not take them. */
  enqueue(items: T[]): Promise<void>;
  /** Identifies an item: the same item added twice is tried once. */
  keyOf(item: T): string | number;
  log: Logger;
  /** Logged (info) when a retry works, with how many went and how many are left. */
  recoveredEvent: string;
  /** First wait (doubled up to 10 s while it fails). Default 500 ms. */
  firstDelayMs?: number;
  /** Items kept at most; past that the reconciler alone enqueues them. Default 10,000. */
  maxItems?: number;
  /** Items per try. Default 256. */
  batch?: number;
}

/**
 * Work already durable in PostgreSQL whose queue job could not be added (Redis away or slow):
 * tried again here, after 0.5 s doubling to 10 s while it fails, so a restart of Redis delays it
 * by seconds rather than by a reconciler's minute. The reconcilers stay the net (a process that
 * stops before a retry works, more items than are kept). Used by the SMTP server's spool writer
 * (spool ids) and the outbound queue (delivery jobs).
 */
export class EnqueueRetry<T> {
  private readonly waiting = new Map<string | number, T>();
  private timer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private closed = false;

  constructor(private readonly options: EnqueueRetryOptions<T>) {
    this.delayMs = options.firstDelayMs ?? 500;
  }

  /** Keeps `items` to be enqueued again soon. */
  add(items: readonly T[]): void {
    if (this.closed) return;
    for (const item of items) if (this.waiting.size < (this.options.maxItems ?? 10_000)) this.waiting.set(this.options.keyOf(item), item);
    this.schedule();
  }

  /** Stops trying (the reconcilers enqueue what is left). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer || this.closed || this.waiting.size === 0) return;
    this.timer = setTimeout(() => void this.retry(), this.delayMs);
    this.timer.unref();
  }

  private async retry(): Promise<void> {
    const batch = [...this.waiting.entries()].slice(0, this.options.batch ?? 256);
    try {
      await this.options.enqueue(batch.map(([, item]) => item));
      for (const [key] of batch) this.waiting.delete(key);
      this.delayMs = this.options.firstDelayMs ?? 500;
      this.options.log.info({ event: this.options.recoveredEvent, count: batch.length, left: this.waiting.size });
    } catch {
      this.delayMs = Math.min(this.delayMs * 2, RETRY_MAX_MS);
    } finally {
      this.timer = undefined;
      this.schedule();
    }
  }
}
