import { sql, type Kysely } from 'kysely';

/**
 * Tells the planner that a message's mailbox says whose it is (extended statistics: `user_id`
 * depends on `mailbox_id`), then gathers them.
 *
 * Nearly every read of `messages` names both (`user_id = $1 AND mailbox_id = $2`: the owner scope
 * and the folder). Without this the planner takes the two as independent and expects a mailbox of
 * 200 messages, on a server of 50 users, to hold 200 × 1/50 ≈ 4 of them — about one row. Plans made
 * for one row read the whole mailbox where a few primary-key lookups would do: the IMAP SELECT that
 * refreshes a view from the change log read every row of the mailbox (one heap page each, mail for
 * many users arrives interleaved) to find the few that changed — 0.9 ms of PostgreSQL per SELECT in
 * the IMAP bench (bench/README.md), growing with the mailbox.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE STATISTICS messages_user_mailbox (dependencies) ON user_id, mailbox_id FROM messages`.execute(db);
  await sql`ANALYZE messages`.execute(db);
}
