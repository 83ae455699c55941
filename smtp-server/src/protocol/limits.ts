/**
 * Per-client-IP counters (open connections, transactions in DATA), messages in a sliding
 * one-minute window, and a semaphore (large messages loaded at once).
 */
export class ConnectionCounter {
  private readonly open = new Map<string, number>();

  constructor(private readonly maxPerIp: number) {}

  /** Returns false (and counts nothing) when the address is at its limit. */
  tryAcquire(ip: string): boolean {
    const current = this.open.get(ip) ?? 0;
    if (current >= this.maxPerIp) return false;
    this.open.set(ip, current + 1);
    return true;
  }

  /** Whether the address is at its limit (nothing counted). */
  isFull(ip: string): boolean {
    return (this.open.get(ip) ?? 0) >= this.maxPerIp;
  }

  release(ip: string): void {
    const current = this.open.get(ip) ?? 0;
    if (current <= 1) this.open.delete(ip);
    else this.open.set(ip, current - 1);
  }
}

/**
 * Events per key in a sliding window, counted in one-second buckets: O(window seconds) memory
 * per key and O(1) work per event, whatever the rate.
 */
export class RateWindow {
  private readonly counters = new Map<string, { buckets: Int32Array; stamps: Float64Array }>();
  private readonly slots: number;

  constructor(
    private readonly maxPerWindow: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    this.slots = Math.max(1, Math.ceil(windowMs / 1000));
  }

  /** Records one event for `key`; false (and nothing recorded) when that would exceed the limit. */
  tryHit(key: string): boolean {
    const second = Math.floor(this.now() / 1000);
    let counter = this.counters.get(key);
    if (!counter) {
      if (this.counters.size > 10_000) this.prune(second);
      counter = { buckets: new Int32Array(this.slots), stamps: new Float64Array(this.slots).fill(-1) };
      this.counters.set(key, counter);
    }
    let total = 0;
    for (let i = 0; i < this.slots; i++) if (counter.stamps[i]! > second - this.slots) total += counter.buckets[i]!;
    if (total >= this.maxPerWindow) return false;
    const slot = second % this.slots;
    if (counter.stamps[slot] !== second) {
      counter.stamps[slot] = second;
      counter.buckets[slot] = 0;
    }
    counter.buckets[slot]! += 1;
    return true;
  }

  private prune(second: number): void {
    for (const [key, counter] of this.counters) if (!counter.stamps.some((s) => s > second - this.slots)) this.counters.delete(key);
  }
}

/** Runs at most `size` tasks at once; the others wait their turn, in order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.size) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      // The place goes straight to the next waiter, if any.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
