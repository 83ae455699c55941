import type { Tx } from '../../db/client.js';
import { AppError } from '../../errors.js';
import { createModseqRepository, type ModseqRepository } from '../../repositories/modseq.repository.js';

/**
 * One user's modseqs within one write transaction. `lock` takes the user row lock and one modseq
 * (every writer of a user's mail calls it FIRST, so all of them run one after another, in modseq
 * order, and none holds a message or mailbox lock while waiting for a user lock: no deadlocks).
 * `take(n)` hands out consecutive modseqs, reserving more as needed; `finish` gives back what
 * was reserved and not used, so a write that changed nothing leaves no trace.
 */
export class ModseqClock {
  private nextFree: number;
  private reserved: number;

  private constructor(
    private readonly repo: ModseqRepository,
    readonly userId: number,
    first: number,
    reserved: number,
  ) {
    this.nextFree = first;
    this.reserved = reserved;
  }

  /** Locks the user and reserves `reserve` modseqs (a writer that knows how many it needs saves a statement later). */
  static async lock(tx: Tx, userId: number, reserve = 1): Promise<ModseqClock> {
    const repo = createModseqRepository(tx);
    const first = await repo.take(userId, Math.max(1, reserve));
    if (first === null) throw new AppError('user.not_found', `user ${userId} does not exist`, 404);
    return new ModseqClock(repo, userId, first, first + Math.max(1, reserve) - 1);
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

  async finish(): Promise<void> {
    if (this.nextFree - 1 < this.reserved) await this.repo.rewind(this.userId, this.nextFree - 1);
  }
}
