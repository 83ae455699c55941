import type { Db } from '../db/client.js';
import type { Logger } from '../log/logger.js';
import { createSpoolRepository, type SpoolInput } from '../repositories/spool.repository.js';

/**
 * Group commit for accepted messages. Messages that finish DATA while the maximum number of
 * commits is in flight wait for the next one, which writes all of them in one transaction:
 * under load one fsync covers many messages, at rest a message is committed alone at once. `write` resolves after
 * the commit and the enqueue attempt, i.e. when 250 may be said.
 */
export interface SpoolWriterDeps {
  db: Db;
  /** Adds inbound jobs; failure is tolerated (the reconciler re-enqueues pending rows). */
  enqueue(spoolIds: number[]): Promise<void>;
  log: Logger;
  maxBatch?: number;
  enqueueTimeoutMs?: number;
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

  constructor(private readonly deps: SpoolWriterDeps & { maxInFlight?: number }) {
    this.maxBatch = deps.maxBatch ?? 256;
    // A few commits in flight at once: PostgreSQL flushes their WAL together, and a slow
    // enqueue never holds up the next commit.
    this.maxInFlight = deps.maxInFlight ?? 4;
    this.spool = createSpoolRepository(deps.db);
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
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.deps.enqueue(ids),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('enqueue timed out')), this.deps.enqueueTimeoutMs ?? 2_000);
        }),
      ]);
    } catch (err) {
      // Already durable in the spool: the reconciler will enqueue these rows.
      this.deps.log.warn({ event: 'smtp.spool.enqueue_failed', spoolIds: ids, err: (err as Error).message });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves when nothing is waiting to be committed. */
  drain(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
