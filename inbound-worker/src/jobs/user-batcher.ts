import type { IngestInput, IngestResult } from '@mailyard/core';

/**
 * Group commit per user for the inbound worker. Filing for one user is serialized by the user
 * row lock, so a busy mailbox would file one message per transaction, one after another. Here,
 * filings that arrive for a user while a transaction of theirs runs wait for the next one, which
 * files all of them (up to `maxBatch`) under one lock and one commit. If a batch fails, its
 * messages are filed one by one, so one bad message never holds back the others.
 */
export type FileBatch = (userId: number, inputs: IngestInput[]) => Promise<IngestResult[]>;

interface Waiting {
  input: IngestInput;
  resolve(result: IngestResult): void;
  reject(err: unknown): void;
}

export class UserBatcher {
  private readonly queues = new Map<number, Waiting[]>();
  private readonly running = new Set<number>();

  constructor(
    private readonly fileBatch: FileBatch,
    private readonly maxBatch = 50,
  ) {}

  file(input: IngestInput): Promise<IngestResult> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(input.userId) ?? [];
      queue.push({ input, resolve, reject });
      this.queues.set(input.userId, queue);
      if (!this.running.has(input.userId)) void this.run(input.userId);
    });
  }

  private async run(userId: number): Promise<void> {
    this.running.add(userId);
    try {
      for (;;) {
        const queue = this.queues.get(userId);
        if (!queue || queue.length === 0) {
          this.queues.delete(userId);
          return;
        }
        const batch = queue.splice(0, this.maxBatch);
        try {
          const results = await this.fileBatch(userId, batch.map((w) => w.input));
          batch.forEach((w, i) => w.resolve(results[i]!));
        } catch (err) {
          if (batch.length === 1) {
            batch[0]!.reject(err);
            continue;
          }
          for (const w of batch) {
            await this.fileBatch(userId, [w.input]).then(
              (results) => w.resolve(results[0]!),
              (e: unknown) => w.reject(e),
            );
          }
        }
      }
    } finally {
      this.running.delete(userId);
    }
  }
}
