import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../../tests/helpers/migration-db.js';
import { migrateToLatest } from '../migrate.js';

const empty = useEmptyDatabase();

/** ~48 KB of text, the kind of bytes pglz does compress. */
const text = (n: number) => Buffer.from(Array.from({ length: 1024 }, (_, i) => `line ${n}-${i}: the quarterly report is attached\r\n`).join(''));

describe('migration 0025_blob_compression', () => {
  it('writes new message bytes with lz4 where the server has it, as they came otherwise; bytes already stored read the same', async () => {
    const db = empty.db;
    await empty.migrateTo('0024_messages_internal_date_zone');
    const put = (hash: string, data: Buffer) => sql`INSERT INTO blobs (hash, size, data) VALUES (${Buffer.from(hash)}, ${data.length}, ${data})`.execute(db);
    const stored = async (hash: string) =>
      (await sql<{ method: string | null; size: number; data: Buffer }>`SELECT pg_column_compression(data) AS method, pg_column_size(data) AS size, data FROM blobs WHERE hash = ${Buffer.from(hash)}`.execute(db)).rows[0]!;

    await put('before', text(1));
    expect((await stored('before')).method).toBe('pglz'); // PostgreSQL's default, what 0025 changes

    expect(await migrateToLatest(db)).toContain('0025_blob_compression');
    await put('after', text(2));
    const after = await stored('after');
    // Does this server have lz4? (The embedded PostgreSQL of `npm start` and of these tests does not.)
    const lz4 = await sql`CREATE TEMP TABLE lz4_probe (d bytea COMPRESSION lz4)`.execute(db).then(
      () => true,
      (err: { code?: string }) => (err.code === '0A000' ? false : Promise.reject(err)),
    );
    if (lz4) {
      expect(after.method).toBe('lz4');
    } else {
      expect(after.method).toBeNull();
      expect(after.size).toBeGreaterThanOrEqual(text(2).length); // out of line, not compressed
    }
    expect(after.data.equals(text(2))).toBe(true);
    const before = await stored('before');
    expect([before.method, before.data.equals(text(1))]).toEqual(['pglz', true]);
  });
});
