import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../tests/helpers/migration-db.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { runCli } from './main.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

const target = useEmptyDatabase();
let source: TestStore;
let dir: string;
const sourceKey = 'ab'.repeat(32);

async function cli(env: { DATABASE_URL: string; DATA_DIR: string }, ...argv: string[]): Promise<string[]> {
  Object.assign(process.env, env);
  const lines: string[] = [];
  const code = await runCli(argv, (line) => lines.push(line));
  expect(code).toBe(0);
  return lines;
}

beforeAll(async () => {
  source = await createTestStore();
  await createAccountsService({ db: source.db, secrets: testSecrets }).addDomain('cli-backup.test');
  dir = mkdtempSync(join(tmpdir(), 'mailyard-cli-backup-'));
  writeFileSync(join(dir, 'source-secret.key'), `${sourceKey}\n`);
});
afterAll(async () => {
  delete process.env.DATABASE_URL;
  delete process.env.DATA_DIR;
  await source?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mailyard backup / restore', () => {
  it('backs up with the sealing key, restores into a fresh install putting the key back, and refuses a second restore', async () => {
    const sourceData = mkdtempSync(join(dir, 'source-'));
    writeFileSync(join(sourceData, 'secret.key'), `${sourceKey}\n`, { mode: 0o600 });
    const file = join(dir, 'site.mailyard');
    const made = await cli({ DATABASE_URL: source.url, DATA_DIR: sourceData }, 'backup', file);
    expect(made[0]).toMatch(/^backup written to .*site\.mailyard: \d+ tables, \d+ rows, schema \d{4}_/);
    expect(made[1]).toMatch(/holds the key/);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const freshData = mkdtempSync(join(dir, 'fresh-'));
    const restored = await cli({ DATABASE_URL: target.url, DATA_DIR: freshData }, 'restore', file);
    expect(restored[0]).toMatch(/^restored .* tables/);
    expect(readFileSync(join(freshData, 'secret.key'), 'utf8').trim()).toBe(sourceKey);
    expect(statSync(join(freshData, 'secret.key')).mode & 0o777).toBe(0o600);
    expect((await target.db.selectFrom('domains').select('name').execute()).map((d) => d.name)).toEqual(['cli-backup.test']);

    // The install holds data now (and the test's own pool is connected to it): refused without --force.
    Object.assign(process.env, { DATABASE_URL: target.url, DATA_DIR: freshData });
    await expect(runCli(['restore', file], () => undefined)).rejects.toThrow(/--force/);
    // A DATA_DIR whose key differs from the backup's is refused too: its secrets would not open.
    const otherData = mkdtempSync(join(dir, 'other-'));
    writeFileSync(join(otherData, 'secret.key'), `${'cd'.repeat(32)}\n`, { mode: 0o600 });
    Object.assign(process.env, { DATA_DIR: otherData });
    await expect(runCli(['restore', file], () => undefined)).rejects.toThrow(/differs from the key in the backup/);
  });
});
