import { sql, type Kysely } from 'kysely';

/**
 * An alias or catch-all grants receiving, not sending: `aliases.allow_send` says whether its
 * target may also send as it (as the alias address, or as any address of the domain for a
 * catch-all). Only a server admin sets it; new aliases start without it. Aliases made before this
 * migration could send, so they keep that.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE aliases ADD COLUMN allow_send boolean NOT NULL DEFAULT false;
    UPDATE aliases SET allow_send = true;
  `.execute(db);
}
