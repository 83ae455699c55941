import pg from 'pg';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either a plain handle or one inside a transaction: repositories accept both. */
export type DbOrTx = Kysely<Database> | Transaction<Database>;

// pg returns int8 (bigserial ids, counters, count(*)) as strings. Our ids and counters stay far
// below 2^53, so parse them to numbers here, once, for the whole process.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export interface DbOptions {
  connectionString: string;
  max?: number;
  applicationName?: string;
}

export function createDb(options: DbOptions): { db: Db; pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'mailyard',
    connectionTimeoutMillis: 5_000,
  });
  // An idle client that loses its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, pool };
}

/** One round trip to the database: resolves when it answers, throws when it is unreachable (readiness checks). */
export async function pingDatabase(db: DbOrTx): Promise<void> {
  await sql`SELECT 1`.execute(db);
}
