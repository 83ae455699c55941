import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../../tests/helpers/migration-db.js';
import { createSpoolRepository } from '../../repositories/spool.repository.js';
import type { Db } from '../client.js';
import { migrateToLatest } from '../migrate.js';

const empty = useEmptyDatabase();
let db: Db;
beforeAll(() => {
  db = empty.db;
});

/** Spools `n` rows of ~1.2 KB (the size of a bench message's row), marks them done, and says how many moved to another page. */
async function rowsMovedByDone(n: number, tag: string): Promise<number> {
  const spool = createSpoolRepository(db);
  const ids = await spool.insertMany(
    Array.from({ length: n }, (_, i) => ({
      raw: Buffer.from(`Subject: ${tag} ${i}\r\n\r\nbody\r\n`),
      mailFrom: 'sender@remote.test',
      rcptTo: ['a@in.test'],
      remoteIp: '192.0.2.1',
      helo: 'remote.test',
      tls: true,
      traceHeaders: `Received: from remote.test ${'x'.repeat(1000)}\r\n`,
    })),
  );
  const pages = async () => (await sql<{ id: string; page: string }>`SELECT id::text, (ctid::text::point)[0]::text AS page FROM spool WHERE id = ANY(${ids}::bigint[])`.execute(db)).rows;
  const before = new Map((await pages()).map((r) => [r.id, r.page]));
  await spool.markDoneMany(ids.map((id) => ({ id, note: null, attempts: 1 })));
  return (await pages()).filter((r) => before.get(r.id) !== r.page).length;
}

describe('migration 0021_spool_fillfactor', () => {
  it("keeps room on each spool page for its rows' done versions", async () => {
    await empty.migrateTo('0020_outbound_retention');
    // Before: full pages, so the done version of most rows goes to another page (the whole row in the WAL).
    expect(await rowsMovedByDone(24, 'before')).toBeGreaterThan(0);

    expect(await migrateToLatest(db)).toContain('0021_spool_fillfactor');

    const { rows } = await sql<{ reloptions: string[] }>`SELECT reloptions FROM pg_class WHERE relname = 'spool' AND relnamespace = current_schema()::regnamespace`.execute(db);
    expect(rows[0]!.reloptions).toContain('fillfactor=50');
    expect(await rowsMovedByDone(24, 'after')).toBe(0);
  });
});
