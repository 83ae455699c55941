import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../tests/helpers/migration-db.js';
import { restoreDatabase } from '../db/backup.js';
import type { Db } from '../db/client.js';
import { migrationDescriptions, migrations } from '../db/migrate.js';
import { runCli } from './main.js';

/**
 * `mailyard migrate [--dry-run] [--no-backup]`: what compose's one-shot `migrate` service runs
 * before the apps start, and what an administrator runs to upgrade.
 */

const fresh = useEmptyDatabase();
const older = useEmptyDatabase();
const restored = useEmptyDatabase();
const unbacked = useEmptyDatabase();

const all = Object.keys(migrations).sort();
const previous = all.at(-2)!;
const latest = all.at(-1)!;
let dir: string;

async function cli(env: { DATABASE_URL: string; DATA_DIR: string }, ...argv: string[]): Promise<{ code: number; lines: string[] }> {
  Object.assign(process.env, env);
  const lines: string[] = [];
  const code = await runCli(argv, (line) => lines.push(line));
  return { code, lines };
}

async function applied(db: Db): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
  return rows.map((r) => r.name);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mailyard-cli-migrate-'));
});
afterAll(() => {
  delete process.env.DATABASE_URL;
  delete process.env.DATA_DIR;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mailyard migrate', () => {
  it('describes every migration for --dry-run', () => {
    expect(Object.keys(migrationDescriptions).sort()).toEqual(all);
    for (const description of Object.values(migrationDescriptions)) expect(description).toMatch(/^\S.{10,}$/);
  });

  it('applies every pending migration to an empty database without a backup (nothing to back up), then finds nothing to do', async () => {
    const env = { DATABASE_URL: fresh.url, DATA_DIR: mkdtempSync(join(dir, 'fresh-')) };
    expect(await cli(env, 'migrate')).toEqual({ code: 0, lines: [`applied ${all.length} migrations: ${all.join(', ')}`] });
    expect(await applied(fresh.db)).toEqual(all);
    expect(await cli(env, 'migrate')).toEqual({ code: 0, lines: ['the database is up to date'] });
    expect(existsSync(join(env.DATA_DIR, 'backups'))).toBe(false);
  });

  it('--dry-run lists the pending migrations and changes nothing; migrate then backs up first, and the backup restores', async () => {
    await older.migrateTo(previous);
    await older.db.insertInto('domains').values({ name: 'before-upgrade.test' }).execute();
    const env = { DATABASE_URL: older.url, DATA_DIR: mkdtempSync(join(dir, 'older-')) };

    const dry = await cli(env, 'migrate', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.lines[0]).toBe(`schema ${previous}; this version's is ${latest}`);
    expect(dry.lines[1]).toBe('1 pending migration would run:');
    expect(dry.lines[2]).toMatch(new RegExp(`^  ${latest}\\s+${migrationDescriptions[latest]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    expect(dry.lines.at(-1)).toBe('dry run: nothing was changed');
    expect(await applied(older.db)).toEqual(all.slice(0, -1));
    expect(existsSync(join(env.DATA_DIR, 'backups'))).toBe(false);

    const run = await cli(env, 'migrate');
    expect(run.code).toBe(0);
    const files = readdirSync(join(env.DATA_DIR, 'backups'));
    expect(files).toHaveLength(1);
    const [number, target] = [previous, latest].map((name) => name.split('_')[0]);
    expect(files[0]).toMatch(new RegExp(`^before-${number}-to-${target}-\\d{8}T\\d{6}Z\\.mailyard\\.gz$`));
    const file = join(env.DATA_DIR, 'backups', files[0]!);
    expect(run.lines).toEqual([expect.stringMatching(new RegExp(`^backup written to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\d+ tables, \\d+ rows, schema ${previous}$`)), `applied 1 migrations: ${latest}`]);
    expect(await applied(older.db)).toEqual(all);

    // The backup is the database as it was before the upgrade.
    const back = await restoreDatabase({ connectionString: restored.url, file });
    expect(back.schema).toBe(previous);
    expect((await restored.db.selectFrom('domains').select('name').execute()).map((d) => d.name)).toEqual(['before-upgrade.test']);

    expect(await cli(env, 'migrate', '--dry-run')).toEqual({ code: 0, lines: ['the database is up to date'] });
    expect(await cli(env, 'migrate')).toEqual({ code: 0, lines: ['the database is up to date'] });
    expect(readdirSync(join(env.DATA_DIR, 'backups'))).toEqual(files);
  });

  it('--dry-run refuses a database a newer Mailyard has migrated', async () => {
    await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('9999_from_the_future', now())`.execute(fresh.db);
    try {
      const refused = cli({ DATABASE_URL: fresh.url, DATA_DIR: mkdtempSync(join(dir, 'newer-')) }, 'migrate', '--dry-run');
      await expect(refused).rejects.toThrow(/upgraded by a newer Mailyard \(migration 9999_from_the_future/);
      await expect(refused).rejects.toMatchObject({ code: 'db.schema_newer' });
    } finally {
      await sql`DELETE FROM kysely_migration WHERE name = '9999_from_the_future'`.execute(fresh.db);
    }
  });

  it('stops before migrating when the backup fails, naming --no-backup; --no-backup migrates without one', async () => {
    await unbacked.migrateTo(previous);
    const env = { DATABASE_URL: unbacked.url, DATA_DIR: mkdtempSync(join(dir, 'unbacked-')) };
    writeFileSync(join(env.DATA_DIR, 'backups'), 'a file where the backups folder would go');
    await expect(cli(env, 'migrate')).rejects.toThrow(/backup before migrating failed.*--no-backup/s);
    expect(await applied(unbacked.db)).toEqual(all.slice(0, -1));

    rmSync(join(env.DATA_DIR, 'backups'));
    expect(await cli(env, 'migrate', '--no-backup')).toEqual({ code: 0, lines: [`applied 1 migrations: ${latest}`] });
    expect(await applied(unbacked.db)).toEqual(all);
    expect(existsSync(join(env.DATA_DIR, 'backups'))).toBe(false);
  });
});
