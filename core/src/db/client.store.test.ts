import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createDb, PREPARED, type Db } from './client.js';

let store: TestStore;
let db: Db;
let close: () => Promise<void>;

beforeAll(async () => {
  store = await createTestStore();
  // One connection, so every statement below runs in the same session.
  const one = createDb({ connectionString: store.url, max: 1 });
  db = one.db;
  close = () => one.db.destroy();
});
afterAll(async () => {
  await close();
  await store.drop();
});

/** The statements prepared in the (only) session, by their text. */
async function prepared(): Promise<string[]> {
  const { rows } = await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements ORDER BY prepare_time`.execute(db);
  return rows.map((r) => r.statement);
}

describe('statements marked PREPARED', () => {
  it('are prepared once per connection and answer as before; others are not prepared', async () => {
    const plain = async (n: number) => (await sql<{ v: number }>`SELECT ${n}::int + 1 AS v`.execute(db)).rows[0]!.v;
    const marked = async (n: number) => (await sql<{ v: number }>`${PREPARED}SELECT ${n}::int * 2 AS v`.execute(db)).rows[0]!.v;
    expect(await plain(1)).toBe(2);
    expect(await prepared()).toEqual([]);
    for (let n = 1; n <= 7; n += 1) expect(await marked(n)).toBe(n * 2);
    const statements = await prepared();
    expect(statements).toHaveLength(1);
    expect(statements[0]).toContain('SELECT $1::int * 2 AS v');
    // In a transaction too (the same connection, the statement already there).
    expect(await db.transaction().execute(async (tx) => (await sql<{ v: number }>`${PREPARED}SELECT ${21}::int * 2 AS v`.execute(tx)).rows[0]!.v)).toBe(42);
    expect(await prepared()).toHaveLength(1);
  });

  it('stop being prepared past the per-connection bound, and still run', async () => {
    // 230 statements of different texts.
    for (let n = 0; n < 230; n += 1) {
      const { rows } = await sql<{ v: number }>`${PREPARED}SELECT ${n}::int + ${sql.raw(String(n))} AS v`.execute(db);
      expect(rows[0]!.v).toBe(2 * n);
    }
    const count = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_prepared_statements`.execute(db)).rows[0]!.n;
    expect(await count()).toBe(200);
    // A new marked statement past the bound runs unnamed.
    expect((await sql<{ v: number }>`${PREPARED}SELECT ${5}::int - 1 AS v`.execute(db)).rows[0]!.v).toBe(4);
    expect(await count()).toBe(200);
  });
});
