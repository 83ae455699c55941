/**
 * Group commit per key. Items that arrive for a key while a batch of that key is being written
 * wait for the next batch, which takes all of them (up to `maxBatch`): under load one
 * transaction covers many items, at rest an item is written alone at once. If a batch fails, its
 * items are retried one by one, so one bad item never fails the others.
 *
 * The inbound worker batches its filings under one key (each row is marked done in
 * its filing transaction) and batches its reads (spool rows, recipients, sender lists) under one key each.
 */
export type RunBatch<K, I, R> = (key: K, items: I[]) => Promise<R[]>;

interface Waiting<I, R> {
  item: I;
  resolve(result: R): void;
  reject(err: unknown): void;
}

export class KeyedBatcher<K, I, R> {
  private readonly queues = new Map<K, Array<Waiting<I, R>>>();
  private readonly running = new Set<K>();

  /**
   * `lingerMs`: how long a batch waits for company before it is written (0: at once). A few
   * milliseconds under load turn many small commits into a few large ones.
   */
  constructor(
    private readonly runBatch: RunBatch<K, I, R>,
    private readonly maxBatch = 50,
    private readonly lingerMs = 0,
  ) {}

  add(key: K, item: I): Promise<R> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(key) ?? [];
      queue.push({ item, resolve, reject });
      this.queues.set(key, queue);
      if (!this.running.has(key)) void this.run(key);
    });
  }

  private async run(key: K): Promise<void> {
    this.running.add(key);
    try {
      for (;;) {
        if (this.lingerMs > 0) await new Promise((resolve) => setTimeout(resolve, this.lingerMs));
        const queue = this.queues.get(key);
        if (!queue || queue.length === 0) {
          this.queues.delete(key);
          return;
        }
        const batch = queue.splice(0, this.maxBatch);
        try {
          const results = await this.runBatch(key, batch.map((w) => w.item));
          batch.forEach((w, i) => w.resolve(results[i]!));
        } catch (err) {
          if (batch.length === 1) {
            batch[0]!.reject(err);
            continue;
          }
          for (const w of batch) {
            await this.runBatch(key, [w.item]).then(
              (results) => w.resolve(results[0]!),
              (e: unknown) => w.reject(e),
            );
          }
        }
      }
    } finally {
      this.running.delete(key);
    }
  }
}
