import { createSpoolRepository, type Db, type Logger, type SpoolInput } from '@mailyard/core';

/**
 * Group commit for accepted messages. Messages that finish DATA while a commit is in flight
 * wait for the next one, which writes all of them in one transaction: under load one fsync
 * covers many messages, at rest a message is committed alone at once. `write` resolves after
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
  private flushing = false;
  private readonly maxBatch: number;

  constructor(private readonly deps: SpoolWriterDeps) {
    this.maxBatch = deps.maxBatch ?? 256;
  }

  write(item: SpoolInput): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        let ids: number[];
        try {
          ids = await this.deps.db.transaction().execute((tx) => createSpoolRepository(tx).insertMany(batch.map((p) => p.item)));
        } catch (err) {
          this.deps.log.error({ event: 'smtp.spool.commit_failed', count: batch.length, err: (err as Error).message });
          for (const p of batch) p.reject(err);
          continue;
        }
        await this.enqueue(ids);
        batch.forEach((p, i) => p.resolve(ids[i]!));
      }
    } finally {
      this.flushing = false;
    }
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
  async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 10));
  }
}
