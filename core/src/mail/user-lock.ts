import { sql } from 'kysely';
import type { Tx } from '../db/client.js';
import { AppError } from '../errors.js';

/**
 * The user row lock: every transaction that changes a user's mail (ingest, flags, moves,
 * deletes, folder changes) calls this FIRST. `UPDATE users SET modseq = modseq + n` both locks the
 * row until commit and takes the next `n` values of the user's change counter, so all writers of
 * one user's mail run one after another, in modseq order, and none of them can hold a message or
 * mailbox lock while waiting for the user lock (no deadlocks). Returns the FIRST of the `n`
 * consecutive modseqs taken. A rolled-back transaction gives its modseqs back with the lock.
 */
export async function takeUserModseqs(tx: Tx, userId: number, count = 1): Promise<number> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`takeUserModseqs: count must be a positive integer, got ${count}`);
  const user = await tx
    .updateTable('users')
    .set({ modseq: sql`modseq + ${count}` })
    .where('id', '=', userId)
    .returning('modseq')
    .executeTakeFirst();
  if (!user) throw new AppError('user.not_found', `user ${userId} does not exist`, 404);
  return user.modseq - count + 1;
}
