import pg from 'pg';
import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import type { Logger } from '../log/logger.js';
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
  /** Where dropped connections are reported (`db.connection_lost`); unset: they are dropped silently. */
  log?: Logger;
}

export function createDb(options: DbOptions): { db: Db; pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'mailyard',
    connectionTimeoutMillis: 5_000,
  });
  // A connection that drops (PostgreSQL restarted, a backend terminated) must never crash the
  // process. pg emits 'error' on the client: the pool listens only while the client is idle, so a
  // client checked out (a transaction waiting between statements) needs its own listener. The
  // statement in flight fails on its own and its caller answers 4xx or retries; the pool drops
  // the dead client on release and the next query opens a fresh connection.
  const lost = (err: Error) => options.log?.warn({ event: 'db.connection_lost', err: err.message });
  pool.on('connect', (client) => client.on('error', lost));
  pool.on('error', () => undefined); // reported once, by the client's own listener above
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, pool };
}

/** One round trip to the database: resolves when it answers, throws when it is unreachable (readiness checks). */
export async function pingDatabase(db: DbOrTx): Promise<void> {
  await sql`SELECT 1`.execute(db);
}
