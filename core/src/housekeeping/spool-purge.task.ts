import type { Db } from '../db/client.js';
import { createSpoolRepository } from '../repositories/spool.repository.js';
import type { HousekeepingTask } from '../queue/housekeeping.js';

/**
 * Spool purge: spool rows filed (done) more than SPOOL_RETENTION_DAYS ago are deleted with their
 * `spool_filings`, hourly, a bounded batch per statement; their bytes then go with the blob
 * reclaim unless a message still holds them. The filer skips a row once it is done and the
 * reconciler re-enqueues only pending rows, so a job that still comes for a purged row finds no
 * row and does nothing ('missing'). Pending rows and failed ones (mail never filed: the operator's
 * to look at) are kept.
 */

const BATCH = 1000;

export function spoolPurgeTask(deps: { db: Db }, options: { retentionDays: number; everyMs?: number }): HousekeepingTask {
  const spool = createSpoolRepository(deps.db);
  return {
    name: 'spool-purge',
    everyMs: options.everyMs ?? 3_600_000,
    run: async () => {
      const filedBefore = new Date(Date.now() - options.retentionDays * 86_400_000);
      let purged = 0;
      for (;;) {
        const n = await spool.purgeDone(filedBefore, BATCH);
        purged += n;
        if (n < BATCH) return { purged };
      }
    },
  };
}
