import { sql, type Kysely } from 'kysely';

/**
 * DKIM signing keys, per domain. Rotation keeps old keys (inactive) so their selectors can stay
 * published until mail signed with them has been delivered; at most one key per domain is active.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE dkim_keys (
      id bigserial PRIMARY KEY,
      domain_id bigint NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
      selector text NOT NULL,
      private_key_pem text NOT NULL,
      public_key_b64 text NOT NULL,
      active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (domain_id, selector)
    );
    CREATE UNIQUE INDEX dkim_keys_one_active ON dkim_keys (domain_id) WHERE active;
  `.execute(db);
}
