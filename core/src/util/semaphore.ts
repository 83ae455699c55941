/**
 * At most `limit` holders at once; the others wait in arrival order. `acquire` resolves with the
 * release function (call it exactly once).
 */
export class Semaphore {
  private used = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.used < this.limit) this.used++;
    else await new Promise<void>((resolve) => this.waiters.push(resolve)); // the slot is handed over
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.used--;
    };
  }

  /** Holders plus waiters: zero means nobody uses it. */
  get load(): number {
    return this.used + this.waiters.length;
  }
}

/** One semaphore per key, dropped when idle (e.g. connections per remote host). */
export class KeyedSemaphore<K> {
  private readonly byKey = new Map<K, Semaphore>();

  constructor(private readonly limit: number) {}

  async acquire(key: K): Promise<() => void> {
    let sem = this.byKey.get(key);
    if (!sem) {
      sem = new Semaphore(this.limit);
      this.byKey.set(key, sem);
    }
    const release = await sem.acquire();
    return () => {
      release();
      if (sem.load === 0) this.byKey.delete(key);
    };
  }
}
