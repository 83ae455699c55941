import { sql, type Kysely } from 'kysely';

/**
 * Inbound mail authentication (SPF, DKIM, DMARC, ARC): the MX's results ride on the spool row
 * (`authentication`, and `verdict`: file into the Inbox or Junk) and stay with each filed message
 * (`messages.authentication`, null for mail that was never checked: sent mail, mail filed before
 * this). `domains.trust_policy` holds an admin's relaxations for a domain; `{}` is the default.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE spool ADD COLUMN authentication jsonb;
    ALTER TABLE spool ADD COLUMN verdict text NOT NULL DEFAULT 'inbox' CHECK (verdict IN ('inbox', 'junk'));
    ALTER TABLE messages ADD COLUMN authentication jsonb;
    ALTER TABLE domains ADD COLUMN trust_policy jsonb NOT NULL DEFAULT '{}'::jsonb;
  `.execute(db);
}
