import { createHash } from 'node:crypto';
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
  pool.on('connect', (client) => {
    client.on('error', lost);
    prepareMarkedStatements(client);
  });
  pool.on('error', () => undefined); // reported once, by the client's own listener above
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, pool };
}

/** One round trip to the database: resolves when it answers, throws when it is unreachable (readiness checks). */
export async function pingDatabase(db: DbOrTx): Promise<void> {
  await sql`SELECT 1`.execute(db);
}

/**
 * The start of a statement that is prepared once per connection (a named statement) instead of
 * parsed and planned at every execution: `sql\`${PREPARED}UPDATE …\``, or a prebuilt text that
 * starts with PREPARED_TEXT. For statements run often whose best plan does not depend on the
 * values (a user's rows by id, by mailbox): after five executions PostgreSQL keeps a generic plan
 * when it costs no more than the custom ones, and planning a statement of several CTEs costs more
 * than running it (the IMAP STORE statement: ~2.2 ms of backend CPU unprepared, ~0.9 ms prepared).
 * Not for statements whose plan should follow the values (search): those stay unmarked.
 */
export const PREPARED_TEXT = '/* prepared */ ';
export const PREPARED = sql.raw(PREPARED_TEXT);

/** At most this many statements are prepared on one connection; any further one runs unnamed (bounds the server's memory). */
const MAX_PREPARED_PER_CONNECTION = 200;

/**
 * Makes the client run statements that start with PREPARED_TEXT as named statements, the name
 * derived from the text (the same text, the same statement: pg parses it once per connection).
 */
function prepareMarkedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const names = new Set<string>();
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const [text, values] = args;
    if (typeof text === 'string' && text.startsWith(PREPARED_TEXT) && Array.isArray(values) && args.length === 2) {
      const name = `my_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      if (names.has(name) || names.size < MAX_PREPARED_PER_CONNECTION) {
        names.add(name);
        return query({ name, text, values });
      }
    }
    return query(...args);
  };
}
