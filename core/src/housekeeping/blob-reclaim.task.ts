import type { Db } from '../db/client.js';
import { createBlobRepository } from '../repositories/blob.repository.js';
import type { HousekeepingTask } from '../queue/housekeeping.js';

/**
 * Blob reclaim: message bytes nothing references any more (after expunge, the Trash purge, the
 * spool purge) are deleted, hourly. A blob is addressed by its content hash and shared by every
 * row with the same bytes, so it goes only when no message, spool row, outbound message or held
 * send names it, and only once it is older than the grace time (BLOB_RECLAIM_GRACE): a writer
 * stores the blob before the row that references it, in one transaction.
 *
 * The walk goes through the blobs by hash in steps, each one DELETE statement (its own short
 * transaction) that re-checks the references itself. A writer that re-uses a blob (INSERT … ON
 * CONFLICT DO NOTHING, then its row) while a step runs either keeps it (its row's foreign key
 * check locks the blob: the step waits, then fails on the foreign key and is retried, seeing the
 * row) or, when the step deleted it first, waits for the step and inserts the bytes again. The
 * foreign keys stay the safety net: a referenced blob cannot be deleted.
 *
 * Then it counts what is stored and writes it to Redis (`BLOB_TOTALS_KEY`) for /metrics, which
 * does not scan the table on every scrape.
 */

/** Redis key of the blob totals as of the last reclaim: JSON `{ blobs, bytes, at }`. */
export const BLOB_TOTALS_KEY = 'mailyard:gauge:storage_blobs';

/** The blob totals written under `BLOB_TOTALS_KEY`. */
export interface BlobTotals {
  blobs: number;
  bytes: number;
  /** When they were counted (ms since the epoch). */
  at: number;
}

/** Blobs looked at per step (and at most deleted per transaction). */
const STEP = 1000;
/** A step that meets a reference committed while it ran (23503) is tried again this many times. */
const RETRIES = 3;

/** Deletes the unreferenced blobs created before `createdBefore`; how many and their bytes. */
export async function reclaimBlobs(db: Db, createdBefore: Date, step = STEP): Promise<{ deleted: number; freedBytes: number }> {
  const blobs = createBlobRepository(db);
  let after: Buffer = Buffer.alloc(0);
  let deleted = 0;
  let freedBytes = 0;
  for (;;) {
    const done = await withRetryOnReference(() => blobs.reclaimStep(after, createdBefore, step));
    deleted += done.deleted;
    freedBytes += done.bytes;
    if (done.last === null) return { deleted, freedBytes };
    after = done.last;
  }
}

async function withRetryOnReference<T>(step: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if ((err as { code?: string }).code !== '23503' || attempt >= RETRIES) throw err;
    }
  }
}

export function blobReclaimTask(deps: { db: Db; gauges: { set(key: string, value: string): Promise<unknown> } }, options: { graceMs: number; everyMs?: number }): HousekeepingTask {
  return {
    name: 'blob-reclaim',
    everyMs: options.everyMs ?? 3_600_000,
    run: async () => {
      const { deleted, freedBytes } = await reclaimBlobs(deps.db, new Date(Date.now() - options.graceMs));
      const totals = await createBlobRepository(deps.db).totals();
      const gauge: BlobTotals = { ...totals, at: Date.now() };
      await deps.gauges.set(BLOB_TOTALS_KEY, JSON.stringify(gauge));
      return { deleted, freedBytes, blobs: totals.blobs, blobBytes: totals.bytes };
    },
  };
}
