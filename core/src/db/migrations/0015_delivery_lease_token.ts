import { sql, type Kysely } from 'kysely';

/**
 * Fencing for outbound leases: each claim of a delivery writes a lease token (the claiming
 * worker's id and the claim's generation, the attempt count it made), and an outcome is recorded
 * only while the row still carries that token. A worker whose lease ran out and was taken over
 * can no longer overwrite the outcome of the worker that took over. Null when nobody holds it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE deliveries ADD COLUMN lease_token text`.execute(db);
}
