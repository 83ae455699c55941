import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../tests/helpers/migration-db.js';
import { migrations } from '../db/migrate.js';
import { runCli } from './main.js';

/** `mailyard migrate`: what compose's one-shot `migrate` service runs before the apps start. */

const database = useEmptyDatabase();

async function cli(...argv: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runCli(argv, (line) => lines.push(line));
  return { code, lines };
}

beforeAll(() => {
  process.env.DATABASE_URL = database.url;
});
afterAll(() => {
  delete process.env.DATABASE_URL;
});

describe('mailyard migrate', () => {
  it('applies every pending migration to an empty database, then finds nothing to do', async () => {
    const all = Object.keys(migrations).sort();
    expect(await cli('migrate')).toEqual({ code: 0, lines: [`applied ${all.length} migrations: ${all.join(', ')}`] });
    const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(database.db);
    expect(rows.map((r) => r.name)).toEqual(all);
    expect(await cli('migrate')).toEqual({ code: 0, lines: ['the database is up to date'] });
  });
});
