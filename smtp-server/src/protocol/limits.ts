/** Per-client-IP counters: open connections, and messages in a sliding one-minute window. */
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

  release(ip: string): void {
    const current = this.open.get(ip) ?? 0;
    if (current <= 1) this.open.delete(ip);
    else this.open.set(ip, current - 1);
  }
}

export class RateWindow {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly maxPerWindow: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records one event for `key`; false when that would exceed the window's limit. */
  tryHit(key: string): boolean {
    const now = this.now();
    const since = now - this.windowMs;
    const list = (this.hits.get(key) ?? []).filter((t) => t > since);
    if (list.length >= this.maxPerWindow) {
      this.hits.set(key, list);
      return false;
    }
    list.push(now);
    this.hits.set(key, list);
    if (this.hits.size > 10_000) this.prune(since);
    return true;
  }

  private prune(since: number): void {
    for (const [key, list] of this.hits) if (!list.some((t) => t > since)) this.hits.delete(key);
  }
}
