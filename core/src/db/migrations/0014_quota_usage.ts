import { sql, type Kysely } from 'kysely';

/**
 * Quota usage: `users.used_bytes` is the sum of the `size` of every message row the user owns
 * (what they see as their usage; see core/src/mail/quota.ts for how shared blobs count). The
 * mailbox writer keeps it in the same transaction as each change; here it is computed once from
 * the messages already stored.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE users ADD COLUMN used_bytes bigint NOT NULL DEFAULT 0;
    UPDATE users SET used_bytes = usage.bytes
      FROM (SELECT user_id, sum(size) AS bytes FROM messages GROUP BY user_id) AS usage
      WHERE usage.user_id = users.id;
  `.execute(db);
}
