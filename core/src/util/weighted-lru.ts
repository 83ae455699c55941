/**
 * A map bounded by the total weight of its values (bytes, UIDs, or 1 each for a count), dropping
 * the least recently used first: a Map keeps insertion order, so a hit moves its entry to the end
 * and the oldest entries are at the front. A value heavier than the whole budget is not kept.
 * Used by the reader's rendering cache (mail/render/renderer.ts), IMAP's SEARCH text answers
 * (protocol-services/text-search-cache.ts) and its message structures (imap-server).
 */
export class WeightedLru<K, V> {
  private readonly entries = new Map<K, { value: V; weight: number }>();
  private total = 0;

  constructor(
    private readonly budget: number,
    private readonly weigh: (value: V) => number,
  ) {}

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Keeps the value as the most recently used (replacing the key's old one), then drops the oldest until the budget holds; false if it weighs more than the budget (then not kept). */
  set(key: K, value: V): boolean {
    this.delete(key);
    const weight = this.weigh(value);
    if (weight > this.budget) return false;
    this.entries.set(key, { value, weight });
    this.total += weight;
    for (const [oldest, entry] of this.entries) {
      if (this.total <= this.budget) break;
      this.entries.delete(oldest);
      this.total -= entry.weight;
    }
    return true;
  }

  delete(key: K): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.total -= entry.weight;
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  /** How many entries it holds. */
  get size(): number {
    return this.entries.size;
  }

  /** The total weight it holds. */
  get weight(): number {
    return this.total;
  }
}
