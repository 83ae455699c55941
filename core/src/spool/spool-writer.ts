import type { Db } from '../db/client.js';
import { EnqueueRetry } from '../queue/enqueue-retry.js';
import type { Logger } from '../log/logger.js';
import { createSpoolRepository, type SpoolInput } from '../repositories/spool.repository.js';

/**
 * Group commit for accepted messages. Messages that finish DATA while a commit is in flight wait
 * for the next one, which writes all of them in one statement and adds one queue job for them:
 * under load one fsync and one job cover many messages, at rest a message is committed alone at
 * once. `write` resolves after the commit and the enqueue attempt, i.e. when 250 may be said.
 */
export interface SpoolWriterDeps {
  db: Db;
  /** Adds inbound jobs; failure is tolerated (the reconciler re-enqueues pending rows). */
  enqueue(spoolIds: number[]): Promise<void>;
  log: Logger;
  maxBatch?: number;
  enqueueTimeoutMs?: number;
  /** First wait before a failed enqueue is tried again (doubled up to 10 s while it fails: EnqueueRetry). */
  retryDelayMs?: number;
}

interface Pending {
  item: SpoolInput;
  resolve(id: number): void;
  reject(err: unknown): void;
}

export class SpoolWriter {
  private queue: Pending[] = [];
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private readonly spool: ReturnType<typeof createSpoolRepository>;
  private idleWaiters: Array<() => void> = [];
  /** Committed rows whose enqueue failed (Redis away or slow), tried again until it works. */
  private readonly retries: EnqueueRetry<number>;

  constructor(private readonly deps: SpoolWriterDeps & { maxInFlight?: number }) {
    this.maxBatch = deps.maxBatch ?? 256;
    // One commit (with its enqueue) at a time: what arrives meanwhile shares the next. Measured
    // with 20 sessions sending 5 KB messages (bench/README.md, session 11), one against four in
    // flight: about 1 against 1.45–1.6 PostgreSQL commits per message end to end, 0.21–0.24
    // against 0.59–0.65 WAL fsyncs, one user's mail filed ~10 % faster, submit → 250 unchanged.
    // Freeing the slot at the commit (the enqueue beside the next commit) made smaller batches
    // and measured slower. While Redis does not answer, a batch waits for the enqueue timeout;
    // the replies wait for it either way.
    this.maxInFlight = deps.maxInFlight ?? 1;
    this.spool = createSpoolRepository(deps.db);
    this.retries = new EnqueueRetry({
      enqueue: (ids) => this.tryEnqueue(ids),
      keyOf: (id) => id,
      log: deps.log,
      recoveredEvent: 'smtp.spool.enqueue_recovered',
      firstDelayMs: deps.retryDelayMs,
      batch: this.maxBatch,
    });
  }

  write(item: SpoolInput): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      void this.commit(batch).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.pump();
        else if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    let ids: number[];
    try {
      // One statement, atomic by itself: no BEGIN/COMMIT round trips.
      ids = await this.spool.insertMany(batch.map((p) => p.item));
    } catch (err) {
      if (batch.length > 1) {
        // One bad message must not fail the others that happened to share its transaction.
        for (const p of batch) await this.commit([p]);
        return;
      }
      this.deps.log.error({ event: 'smtp.spool.commit_failed', err: (err as Error).message });
      batch[0]!.reject(err);
      return;
    }
    await this.enqueue(ids);
    batch.forEach((p, i) => p.resolve(ids[i]!));
  }

  private async enqueue(ids: number[]): Promise<void> {
    try {
      await this.tryEnqueue(ids);
    } catch (err) {
      // Already durable in the spool: tried again as soon as Redis answers (EnqueueRetry).
      this.deps.log.warn({ event: 'smtp.spool.enqueue_failed', spoolIds: ids, err: (err as Error).message });
      this.retries.add(ids);
    }
  }

  private async tryEnqueue(ids: number[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.deps.enqueue(ids),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('enqueue timed out')), this.deps.enqueueTimeoutMs ?? 2_000);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when nothing is waiting to be committed. */
  drain(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drains, then stops trying failed enqueues again (the reconciler enqueues those rows). */
  async close(): Promise<void> {
    await this.drain();
    this.retries.close();
  }
}
