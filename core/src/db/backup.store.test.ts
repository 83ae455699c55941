import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../tests/helpers/migration-db.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { verifyPassword } from '../auth/password.js';
import { ingestMessage } from '../mail/mailbox-writer/index.js';
import { loadMessageBytes } from '../mail/message-content.js';
import { summarizeMessage } from '../mail/parse.js';
import { parseSearchQuery } from '../mail/search-query.js';
import { createSearchRepository } from '../repositories/search.repository.js';
import { backupDatabase, BackupError, restoreDatabase, type BackupProgress } from './backup.js';
import type { Db } from './client.js';
import { migrateToLatest, migrations } from './migrate.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

const fresh = useEmptyDatabase();
const busy = useEmptyDatabase();
const older = useEmptyDatabase();
const olderTarget = useEmptyDatabase();

let source: TestStore;
let dir: string;
let userId: number;
let messageId: number;
const secretKey = Buffer.alloc(32, 7);
const raw = Buffer.from('From: Ann <ann@else.test>\r\nTo: bo@backup.test\r\nSubject: Harbour lights\r\nMessage-ID: <b1@else.test>\r\n\r\nThe boats come in at dusk.\r\n');

beforeAll(async () => {
  source = await createTestStore();
  dir = mkdtempSync(join(tmpdir(), 'mailyard-backup-'));
  const accounts = createAccountsService({ db: source.db, secrets: testSecrets });
  await accounts.addDomain('backup.test');
  userId = (await accounts.addUser({ address: 'bo@backup.test', password: 'bo password 1' })).id;
  ({ messageId } = await ingestMessage({ db: source.db, events: { publish: async () => undefined } }, { userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) }));
});

afterAll(async () => {
  await source?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Row counts of every table but the migration bookkeeping. */
async function counts(db: Db): Promise<Record<string, number>> {
  const { rows } = await sql<{ name: string }>`SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE 'kysely_%' ORDER BY 1`.execute(db);
  const out: Record<string, number> = {};
  for (const { name } of rows) out[name] = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(name)}`.execute(db)).rows[0]!.n);
  return out;
}

async function takeBackup(name: string, url = source.url): Promise<string> {
  const file = join(dir, name);
  await backupDatabase({ connectionString: url, file, secretKey });
  return file;
}

/** The frames of a backup file, to damage it on purpose. */
function frames(file: string): Array<{ tag: string; payload: Buffer }> {
  const data = gunzipSync(readFileSync(file));
  const out: Array<{ tag: string; payload: Buffer }> = [];
  for (let at = 0; at < data.length; ) {
    const size = data.readUInt32BE(at + 1);
    out.push({ tag: data.toString('latin1', at, at + 1), payload: data.subarray(at + 5, at + 5 + size) });
    at += 5 + size;
  }
  return out;
}

function writeFrames(file: string, list: Array<{ tag: string; payload: Buffer }>): void {
  const parts = list.flatMap((f) => {
    const head = Buffer.alloc(5);
    head.write(f.tag, 0, 'latin1');
    head.writeUInt32BE(f.payload.length, 1);
    return [head, f.payload];
  });
  writeFileSync(file, gzipSync(Buffer.concat(parts)));
}

describe('backup and restore', () => {
  it('restores everything into a fresh database: same rows, same message bytes, same password, search and ids going on', async () => {
    const progress: BackupProgress[] = [];
    const file = join(dir, 'full.mailyard');
    const made = await backupDatabase({ connectionString: source.url, file, secretKey, onProgress: (p) => progress.push(p) });
    expect(made.schema).toBe(Object.keys(migrations).at(-1));
    expect(progress.find((p) => p.table === 'messages')?.rows).toBe(1);
    expect(progress.find((p) => p.table === 'blobs')!.bytes).toBeGreaterThan(raw.length);

    const restored = await restoreDatabase({ connectionString: fresh.url, file });
    expect(restored.secretKey).toBe(secretKey.toString('base64'));
    expect(await counts(fresh.db)).toEqual(await counts(source.db));

    expect((await loadMessageBytes(fresh.db, userId, messageId)).equals(await loadMessageBytes(source.db, userId, messageId))).toBe(true);
    const user = await fresh.db.selectFrom('users').select('password_hash').where('address', '=', 'bo@backup.test').executeTakeFirstOrThrow();
    expect(await verifyPassword(user.password_hash, 'bo password 1')).toBe(true);
    // Search works on the restored store: the message's place in the search index stage (queued or
    // indexed) came with it, and a search indexes what is queued first.
    const found = await createSearchRepository(fresh.db).search(userId, parseSearchQuery('boats'), { limit: 10 });
    expect(found.messages.map((m) => m.id)).toEqual([messageId]);
    // New rows continue after the restored ids.
    const added = await createAccountsService({ db: fresh.db, secrets: testSecrets }).addUser({ address: 'cy@backup.test', password: 'cy password 1' });
    expect(added.id).toBeGreaterThan(userId);
  });

  it('refuses a database that holds data, naming the fix, and replaces it with force', async () => {
    const file = await takeBackup('for-busy.mailyard');
    await restoreDatabase({ connectionString: busy.url, file });
    await createAccountsService({ db: busy.db, secrets: testSecrets }).addDomain('extra.test');
    await expect(restoreDatabase({ connectionString: busy.url, file })).rejects.toThrow(/not empty .*--force/);
    expect(await busy.db.selectFrom('domains').select('name').where('name', '=', 'extra.test').executeTakeFirst()).toBeDefined();

    await restoreDatabase({ connectionString: busy.url, file, force: true });
    expect(await busy.db.selectFrom('domains').select('name').where('name', '=', 'extra.test').executeTakeFirst()).toBeUndefined();
    expect(await counts(busy.db)).toEqual(await counts(source.db));
  });

  it('refuses a truncated or damaged file before touching the target, even with force', async () => {
    const file = await takeBackup('whole.mailyard');
    const list = frames(file);
    const cut = join(dir, 'cut.mailyard');
    writeFrames(cut, list.slice(0, -3));
    const before = await counts(busy.db);
    await expect(restoreDatabase({ connectionString: busy.url, file: cut, force: true })).rejects.toThrow(BackupError);
    expect(await counts(busy.db)).toEqual(before);

    const garbage = join(dir, 'garbage.mailyard');
    writeFileSync(garbage, 'not a backup at all');
    await expect(restoreDatabase({ connectionString: busy.url, file: garbage, force: true })).rejects.toThrow(/not a Mailyard backup/);
    expect(await counts(busy.db)).toEqual(before);
  });

  it('refuses a backup made by a newer version', async () => {
    const list = frames(await takeBackup('newer.mailyard'));
    const header = JSON.parse(list[0]!.payload.toString('utf8')) as Record<string, unknown>;
    list[0] = { tag: 'H', payload: Buffer.from(JSON.stringify({ ...header, schema: '9999_from_the_future' })) };
    const newer = join(dir, 'newer-schema.mailyard');
    writeFrames(newer, list);
    await expect(restoreDatabase({ connectionString: busy.url, file: newer, force: true })).rejects.toThrow(/newer Mailyard/);
  });

  it('restores a backup of an older schema and migrates it forward', async () => {
    await older.migrateTo('0012_imap_state');
    await sql`INSERT INTO domains (name) VALUES ('old.test')`.execute(older.db);
    const file = await takeBackup('older.mailyard', older.url);
    const restored = await restoreDatabase({ connectionString: olderTarget.url, file });
    expect(restored.schema).toBe('0012_imap_state');
    const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(olderTarget.db);
    expect(applied.rows.map((r) => r.name)).toEqual(Object.keys(migrations));
    expect((await olderTarget.db.selectFrom('domains').select('name').execute()).map((d) => d.name)).toEqual(['old.test']);
  });
});

describe('a database newer than this version', () => {
  it('is refused at start-up with a message naming the fix', async () => {
    await sql`INSERT INTO kysely_migration (name, timestamp) VALUES ('9999_from_the_future', now())`.execute(olderTarget.db);
    await expect(migrateToLatest(olderTarget.db)).rejects.toThrow(/upgraded by a newer Mailyard \(migration 9999_from_the_future/);
    await sql`DELETE FROM kysely_migration WHERE name = '9999_from_the_future'`.execute(olderTarget.db);
    expect(await migrateToLatest(olderTarget.db)).toEqual([]);
  });
});
