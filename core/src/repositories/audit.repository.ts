import { sql } from 'kysely';
import type { DbOrTx } from '../db/client.js';

export interface AuditEvent {
  actorUserId: number | null;
  actorAddress: string | null;
  action: string;
  target?: string | null;
  ip?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditRow extends Required<Omit<AuditEvent, 'details'>> {
  id: number;
  at: Date;
  details: Record<string, unknown>;
}

/** What the admin panel filters the log by: an action or its prefix at a dot, the actor's address, a time range (`until` exclusive). */
export interface AuditFilter {
  action?: string;
  actor?: string;
  since?: Date;
  until?: Date;
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Security events: logins, failures, password and role changes, admin actions. */
export function createAuditRepository(db: DbOrTx) {
  return {
    async record(event: AuditEvent): Promise<void> {
      await db
        .insertInto('audit_log')
        .values({
          actor_user_id: event.actorUserId,
          actor_address: event.actorAddress,
          action: event.action,
          target: event.target ?? null,
          ip: event.ip ?? null,
          details: JSON.stringify(event.details ?? {}),
        })
        .execute();
    },
    /**
     * Newest first. `domains`: only entries about those domains — the domain or an address in it
     * as target, or, for entries without a target (sign-ins), an actor address in it. What a
     * domain-admin may read: an admin of a.test acting on b.test is not about a.test.
     */
    async list(options: { limit: number; beforeId?: number; domains?: string[] } & AuditFilter): Promise<AuditRow[]> {
      let query = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(options.limit);
      if (options.beforeId !== undefined) query = query.where('id', '<', options.beforeId);
      if (options.action !== undefined) query = query.where((eb) => eb.or([eb('action', '=', options.action!), eb('action', 'like', `${escapeLike(options.action!)}.%`)]));
      if (options.actor !== undefined) query = query.where(sql`lower(actor_address)`, '=', options.actor.toLowerCase());
      if (options.since !== undefined) query = query.where('at', '>=', options.since);
      if (options.until !== undefined) query = query.where('at', '<', options.until);
      if (options.domains !== undefined) {
        const domains = options.domains;
        if (domains.length === 0) return [];
        const inDomain = domains.map((d) => `%@${escapeLike(d)}`);
        query = query.where((eb) =>
          eb.or([eb('target', 'in', domains), eb('target', 'like', sql<string>`ANY(${inDomain}::text[])`), eb.and([eb('target', 'is', null), eb('actor_address', 'like', sql<string>`ANY(${inDomain}::text[])`)])]),
        );
      }
      const rows = await query.execute();
      return rows.map((r) => ({ id: r.id, at: r.at, actorUserId: r.actor_user_id, actorAddress: r.actor_address, action: r.action, target: r.target, ip: r.ip, details: r.details }));
    },
  };
}
export type AuditRepository = ReturnType<typeof createAuditRepository>;
