import type { RcptVerdict } from './rcpt-exists.check.js';

/**
 * A short-lived cache of RCPT verdicts, so a burst of mail to the same addresses costs one
 * lookup per address per few seconds instead of one per RCPT. Accepts are kept longer than
 * refusals; a user removed in between still reaches only the inbound worker, which resolves
 * recipients again and records who is no longer local.
 */
export class RecipientCache {
  private readonly entries = new Map<string, { verdict: RcptVerdict; expires: number }>();

  constructor(
    private readonly options: { acceptTtlMs: number; rejectTtlMs: number; maxEntries: number },
    private readonly now: () => number = Date.now,
  ) {}

  get(address: string): RcptVerdict | undefined {
    const key = address.toLowerCase();
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.verdict;
  }

  set(address: string, verdict: RcptVerdict): void {
    const ttl = verdict.accept ? this.options.acceptTtlMs : this.options.rejectTtlMs;
    if (ttl <= 0) return;
    if (this.entries.size >= this.options.maxEntries) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(address.toLowerCase(), { verdict, expires: this.now() + ttl });
  }
}
