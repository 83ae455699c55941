import type { Tx } from '../../db/client.js';
import { AppError } from '../../errors.js';
import { createModseqRepository, type ModseqRepository } from '../../repositories/modseq.repository.js';
import type { QuotaUsage } from '../../repositories/user.repository.js';

/**
 * One user's modseqs within one write transaction. `lockAll` takes the user row locks (in id
 * order, in one statement; the quota usage comes with them) and reserves modseqs for each (every
 * writer of a user's mail does this FIRST, so all of them run one after another, in modseq order,
 * and none holds a message or mailbox lock while waiting for a user lock: no deadlocks; the flag
 * change's single statement, flag-store.ts, locks the user row first too). `take(n)` hands out consecutive
 * modseqs, reserving more as needed; `finishAll` gives back, in one statement, what was reserved
 * and not used, so a write that changed nothing leaves no trace.
 */
export class ModseqClock {
  private nextFree: number;
  private reserved: number;

  private constructor(
    private readonly repo: ModseqRepository,
    readonly userId: number,
    first: number,
    reserved: number,
    /** The user's quota usage, read when the row was locked; the writer adds its byte deltas (`used`). */
    readonly usage: QuotaUsage,
  ) {
    this.nextFree = first;
    this.reserved = reserved;
  }

  /**
   * Locks the users and reserves for each `reserve.get(userId)` modseqs (at least one; a writer
   * that knows how many it needs saves statements later). 404 'user.not_found' for a missing user.
   */
  static async lockAll(tx: Tx, userIds: readonly number[], reserve?: ReadonlyMap<number, number>): Promise<Map<number, ModseqClock>> {
    const repo = createModseqRepository(tx);
    const wanted = [...new Set(userIds)].sort((a, b) => a - b).map((userId) => ({ userId, n: Math.max(1, reserve?.get(userId) ?? 1) }));
    const locked = await repo.lockAndTake(wanted);
    const clocks = new Map<number, ModseqClock>();
    for (const { userId, n } of wanted) {
      const row = locked.get(userId);
      if (row === undefined) throw new AppError('user.not_found', `user ${userId} does not exist`, 404);
      clocks.set(userId, new ModseqClock(repo, userId, row.first, row.first + n - 1, { ...row.usage }));
    }
    return clocks;
  }

  /** Gives back the modseqs these clocks reserved and did not use (one statement for all of them). */
  static async finishAll(tx: Tx, clocks: Iterable<ModseqClock>): Promise<void> {
    const unused = [...clocks].filter((c) => c.nextFree - 1 < c.reserved).map((c) => ({ userId: c.userId, modseq: c.nextFree - 1 }));
    await createModseqRepository(tx).rewind(unused);
  }

  /** Moves the usage as the writer's counter changes move `users.used_bytes` (the row is locked: nobody else does). */
  used(bytes: number): void {
    this.usage.usedBytes += bytes;
  }

  /** `n` consecutive modseqs; returns the first. */
  async take(n: number): Promise<number> {
    const last = this.nextFree + n - 1;
    if (last > this.reserved) {
      const first = await this.repo.take(this.userId, last - this.reserved);
      if (first !== this.reserved + 1) throw new Error('user modseq moved while its row was locked');
      this.reserved = last;
    }
    const start = this.nextFree;
    this.nextFree += n;
    return start;
  }
}
