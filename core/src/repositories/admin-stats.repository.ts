import { sql } from 'kysely';
import type { DbOrTx } from '../db/client.js';
import type { SenderScope } from './outbound.repository.js';

/**
 * The admin dashboard's counts, read from what the store already records: spool_filings (one row
 * per message filed into a local mailbox from SMTP), outbound_messages (one per message sent) and
 * deliveries (per recipient: the queue and the outcomes), and the users' stored bytes. Scoped like
 * the outbound queue: all users, or those of some domains (a domain-admin's). Also the store-wide
 * figures /metrics reports.
 */

export interface AdminStats {
  /** The last 24 hours, oldest first, each hour present (zeros included). */
  hours: Array<{ hour: Date; received: number; sent: number }>;
  queue: { queued: number; deferred: number };
  /** Deliveries last changed in the last 24 hours, by where they stand. */
  outcomes: { delivered: number; deferred: number; bounced: number; expired: number };
  /** Bytes of mail the users in scope store (what counts against quotas), and the largest users. */
  storage: { usedBytes: number; users: number; top: Array<{ id: number; address: string; usedBytes: number; quotaBytes: number | null }> };
}

/** Users listed in `storage.top`. */
const TOP_USERS = 10;

export function createAdminStatsRepository(db: DbOrTx) {
  return {
    async stats(scope: SenderScope): Promise<AdminStats> {
      const ids = scope.senderDomainIds;
      const inScope = ids === undefined ? sql`true` : sql`u.domain_id = ANY(${ids.length > 0 ? ids : [-1]}::bigint[])`;
      const { rows: hours } = await sql<{ hour: Date; received: string; sent: string }>`
        WITH h AS (
          SELECT generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()), interval '1 hour') AS hour
        ), received AS (
          SELECT date_trunc('hour', f.created_at) AS hour, count(*) AS n
          FROM spool_filings f JOIN users u ON u.id = f.user_id
          WHERE f.created_at >= date_trunc('hour', now()) - interval '23 hours' AND ${inScope}
          GROUP BY 1
        ), sent AS (
          SELECT date_trunc('hour', o.created_at) AS hour, count(*) AS n
          FROM outbound_messages o JOIN users u ON u.id = o.user_id
          WHERE o.created_at >= date_trunc('hour', now()) - interval '23 hours' AND ${inScope}
          GROUP BY 1
        )
        SELECT h.hour, coalesce(r.n, 0) AS received, coalesce(s.n, 0) AS sent
        FROM h LEFT JOIN received r ON r.hour = h.hour LEFT JOIN sent s ON s.hour = h.hour
        ORDER BY h.hour`.execute(db);
      const { rows: states } = await sql<{ status: string; recent: boolean; n: string }>`
        SELECT d.status, d.updated_at >= now() - interval '24 hours' AS recent, count(*) AS n
        FROM deliveries d JOIN users u ON u.id = d.user_id
        WHERE (d.status IN ('queued', 'deferred') OR d.updated_at >= now() - interval '24 hours') AND ${inScope}
        GROUP BY 1, 2`.execute(db);
      const { rows: storage } = await sql<{ used: string; users: string }>`
        SELECT coalesce(sum(u.used_bytes), 0) AS used, count(*) AS users FROM users u WHERE ${inScope}`.execute(db);
      const { rows: top } = await sql<{ id: number; address: string; used_bytes: string; quota_bytes: string | null }>`
        SELECT u.id, u.address, u.used_bytes, u.quota_bytes FROM users u WHERE ${inScope} ORDER BY u.used_bytes DESC, u.id LIMIT ${TOP_USERS}`.execute(db);
      const count = (status: string, recentOnly: boolean) => states.filter((s) => s.status === status && (!recentOnly || s.recent)).reduce((sum, s) => sum + Number(s.n), 0);
      return {
        hours: hours.map((h) => ({ hour: h.hour, received: Number(h.received), sent: Number(h.sent) })),
        queue: { queued: count('queued', false), deferred: count('deferred', false) },
        outcomes: { delivered: count('delivered', true), deferred: count('deferred', true), bounced: count('bounced', true), expired: count('expired', true) },
        storage: {
          usedBytes: Number(storage[0]!.used),
          users: Number(storage[0]!.users),
          top: top.map((u) => ({ id: Number(u.id), address: u.address, usedBytes: Number(u.used_bytes), quotaBytes: u.quota_bytes === null ? null : Number(u.quota_bytes) })),
        },
      };
    },
    /** Store-wide figures for /metrics: the users' stored bytes, and deliveries by status (all time). */
    async storeFigures(): Promise<{ userBytes: number; deliveries: Record<string, number> }> {
      const { rows } = await sql<{ user_bytes: string; deliveries: Record<string, string> | null }>`
        SELECT (SELECT coalesce(sum(used_bytes), 0) FROM users) AS user_bytes,
               (SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM deliveries GROUP BY status) d) AS deliveries`.execute(db);
      const deliveries: Record<string, number> = { queued: 0, deferred: 0, delivered: 0, bounced: 0, expired: 0 };
      for (const [status, n] of Object.entries(rows[0]!.deliveries ?? {})) deliveries[status] = Number(n);
      return { userBytes: Number(rows[0]!.user_bytes), deliveries };
    },
  };
}
