import type { Db } from '../db/client.js';
import { createOutboundRepository } from '../repositories/outbound.repository.js';
import { createScheduledSendRepository } from '../repositories/scheduled-send.repository.js';
import type { HousekeepingTask } from '../queue/housekeeping.js';

/**
 * Outbound purge: sent mail's outbound copy is let go once its delivery is long over, hourly, a
 * bounded batch per statement, so the blob reclaim can free the bytes (unless the Sent copy or
 * another message still holds the same bytes).
 *
 * The design: an outbound message whose every recipient was settled (delivered, bounced,
 * expired; an admin's cancel is a bounce) more than OUTBOUND_RETENTION_DAYS ago, with no DSN
 * owed, keeps its row, its deliveries and their log, and only drops its reference to the bytes
 * (`blob_hash` NULL, migration 0020). The delivery status the Sent view shows
 * (GET /api/messages/:id/delivery) and the admin queue read those rows, so nothing the user or an
 * admin sees changes; retry and cancel answer 409 `outbound.not_pending` for a settled recipient,
 * purged or not. A held send that ended (sent, cancelled, failed) that long ago is deleted: it
 * holds a copy of the same bytes and nothing shows it any more. Recipients queued or deferred,
 * DSNs owed and held sends still pending are never touched. A rerun finds nothing more to do.
 */

/** Rows per statement (each its own short transaction). */
const BATCH = 500;

export function outboundPurgeTask(deps: { db: Db }, options: { retentionDays: number; everyMs?: number; batch?: number }): HousekeepingTask {
  const batch = options.batch ?? BATCH;
  const outbound = createOutboundRepository(deps.db);
  const held = createScheduledSendRepository(deps.db);
  return {
    name: 'outbound-purge',
    everyMs: options.everyMs ?? 3_600_000,
    run: async () => {
      const before = new Date(Date.now() - options.retentionDays * 86_400_000);
      let outboundPurged = 0;
      let outboundBytes = 0;
      for (;;) {
        const { purged, bytes } = await outbound.purgeSettled(before, batch);
        outboundPurged += purged;
        outboundBytes += bytes;
        if (purged < batch) break;
      }
      let heldSendsPurged = 0;
      for (;;) {
        const n = await held.purgeEnded(before, batch);
        heldSendsPurged += n;
        if (n < batch) break;
      }
      return { outboundPurged, outboundBytes, heldSendsPurged };
    },
  };
}
