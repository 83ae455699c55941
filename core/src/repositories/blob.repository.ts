import { createHash } from 'node:crypto';
import type { DbOrTx } from '../db/client.js';

export function blobHash(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Raw message bytes, stored once per content hash. */
export function createBlobRepository(db: DbOrTx) {
  return {
    /** Stores every blob not yet present, in one statement. */
    async putMany(blobs: Array<{ hash: Buffer; data: Buffer }>): Promise<void> {
      if (blobs.length === 0) return;
      const unique = new Map(blobs.map((b) => [b.hash.toString('hex'), b]));
      // A fixed order (by hash) so that two writers inserting overlapping sets cannot deadlock.
      const ordered = [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, b]) => b);
      await db
        .insertInto('blobs')
        .values(ordered.map((b) => ({ hash: b.hash, size: b.data.length, data: b.data })))
        .onConflict((oc) => oc.column('hash').doNothing())
        .execute();
    },
    async get(hash: Buffer): Promise<Buffer | null> {
      const row = await db.selectFrom('blobs').select('data').where('hash', '=', hash).executeTakeFirst();
      return row?.data ?? null;
    },
  };
}
export type BlobRepository = ReturnType<typeof createBlobRepository>;
