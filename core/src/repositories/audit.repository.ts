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
    async list(options: { limit: number; beforeId?: number }): Promise<AuditRow[]> {
      let query = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(options.limit);
      if (options.beforeId !== undefined) query = query.where('id', '<', options.beforeId);
      const rows = await query.execute();
      return rows.map((r) => ({ id: r.id, at: r.at, actorUserId: r.actor_user_id, actorAddress: r.actor_address, action: r.action, target: r.target, ip: r.ip, details: r.details }));
    },
  };
}
export type AuditRepository = ReturnType<typeof createAuditRepository>;
