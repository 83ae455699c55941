import type { DbOrTx } from '../db/client.js';
import { createSpoolRepository } from '../repositories/spool.repository.js';

/**
 * Re-enqueues spool rows that are committed but not filed: their job was lost with Redis, or
 * never added because the enqueue failed after the commit. `enqueue` adds jobs with a
 * deterministic id (the spool id), so a row whose job is still queued is not queued twice.
 * Returns how many rows were handed to `enqueue`.
 */
export async function reconcileSpool(db: DbOrTx, enqueue: (ids: number[]) => Promise<void>, ageMs: number): Promise<number> {
  const ids = await createSpoolRepository(db).listPending(new Date(Date.now() - ageMs), 1000);
  if (ids.length > 0) await enqueue(ids);
  return ids.length;
}
