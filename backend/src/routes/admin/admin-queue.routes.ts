import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import {
  AppError,
  createAdminStatsRepository,
  createAuditRepository,
  createOutboundQueue,
  createOutboundRepository,
  domainsVisibleTo,
  outboundJobId,
  requireAdminArea,
  type AdminActor,
  type OutboundQueue,
  type QueuedDeliveryRow,
  type SenderScope,
} from '@mailyard/core';
import { adminOutboundListResponse, adminOutboundQuery, adminQueuedDeliverySchema, adminStatsResponse, errorResponses, idParam, type AdminQueuedDeliveryDto } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

const errors = errorResponses(400, 401, 403, 404, 409);

/**
 * The outbound queue and the dashboard of the admin panel. Admins see every sender's mail,
 * domain-admins that of senders in their domains (anything else looks absent: 404).
 *   GET  /api/admin/outbound?status=queued|deferred   recipients still waiting, oldest first
 *   POST /api/admin/outbound/deliveries/:id/retry     due now, and a worker woken for it
 *   POST /api/admin/outbound/deliveries/:id/cancel    given up as a bounce ("cancelled by an
 *        administrator"); the sender gets a DSN from the outbound worker, as for any bounce
 *   GET  /api/admin/stats                              messages in/out per hour, queue, outcomes
 * Retry and cancel answer 409 while a worker is talking to the remote server (its lease), or when
 * the recipient is settled already. Both are audited.
 */
export function adminQueueRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  const deliveries = createOutboundRepository(ctx.db);
  const stats = createAdminStatsRepository(ctx.db);
  const audit = createAuditRepository(ctx.db);
  const queue = createOutboundQueue(ctx.redis);

  function actorOf(req: FastifyRequest): AdminActor {
    const me = currentUser(req);
    return { userId: me.userId, address: me.address, role: me.role };
  }

  async function scopeOf(actor: AdminActor): Promise<SenderScope> {
    requireAdminArea(actor);
    return actor.role === 'admin' ? {} : { senderDomainIds: (await domainsVisibleTo(ctx.db, actor)).map((d) => d.id) };
  }

  function refused(refusal: 'not_found' | 'not_pending' | 'in_progress', id: number): AppError {
    if (refusal === 'not_found') return new AppError('outbound.not_found', `no delivery with id ${id}`, 404);
    if (refusal === 'not_pending') return new AppError('outbound.not_pending', 'this delivery is settled already (delivered, bounced or expired)', 409);
    return new AppError('outbound.in_progress', 'a delivery attempt is under way right now; try again in a moment', 409);
  }

  async function answer(req: FastifyRequest, actor: AdminActor, scope: SenderScope, id: number, action: string): Promise<AdminQueuedDeliveryDto> {
    const row = (await deliveries.getQueued(id, scope))!;
    await audit.record({ actorUserId: actor.userId, actorAddress: actor.address, action, target: row.sender, ip: req.ip, details: { deliveryId: id, outboundId: row.outboundId, recipient: row.recipient } });
    return toDto(row);
  }

  return async (app) => {
    app.addHook('preValidation', requireUser);
    app.addHook('preValidation', async (req) => requireAdminArea(actorOf(req)));
    app.addHook('onClose', async () => queue.close());

    app.get('/api/admin/outbound', { schema: { tags: ['admin'], querystring: adminOutboundQuery, response: { 200: adminOutboundListResponse, ...errors } } }, async (req) => {
      const { status, after, limit } = req.query;
      const rows = await deliveries.listQueued({ ...(await scopeOf(actorOf(req))), status, afterId: after, limit });
      return { deliveries: rows.map(toDto), nextAfter: rows.length === limit ? rows[rows.length - 1]!.id : null };
    });

    app.post('/api/admin/outbound/deliveries/:id/retry', { schema: { tags: ['admin'], params: idParam, response: { 200: adminQueuedDeliverySchema, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      const scope = await scopeOf(actor);
      const due = await deliveries.retryNow(req.params.id, scope);
      if (typeof due === 'string') throw refused(due, req.params.id);
      await wake(queue, { outboundId: due.outboundId, domain: due.domain, attempt: due.attempts });
      return answer(req, actor, scope, req.params.id, 'admin.outbound.retry');
    });

    app.post('/api/admin/outbound/deliveries/:id/cancel', { schema: { tags: ['admin'], params: idParam, response: { 200: adminQueuedDeliverySchema, ...errors } } }, async (req) => {
      const actor = actorOf(req);
      const scope = await scopeOf(actor);
      const done = await deliveries.cancel(req.params.id, scope);
      if (done !== true) throw refused(done, req.params.id);
      return answer(req, actor, scope, req.params.id, 'admin.outbound.cancel');
    });

    app.get('/api/admin/stats', { schema: { tags: ['admin'], response: { 200: adminStatsResponse, ...errors } } }, async (req) => {
      const s = await stats.stats(await scopeOf(actorOf(req)));
      return { ...s, hours: s.hours.map((h) => ({ ...h, hour: h.hour.toISOString() })) };
    });
  };
}

/**
 * Wakes a worker for a (message, domain) now. The worker's retry is a delayed job named by the
 * attempt count; enqueuing the same name again would be a no-op while it waits, so a waiting
 * delayed job is promoted instead. Otherwise a job is added: the deliveries table says who is
 * due, so an extra wake-up costs one empty claim at most (and if a job of that name is running,
 * the add is a no-op and the worker's reconciler picks the due row up).
 */
async function wake(queue: OutboundQueue, job: { outboundId: number; domain: string; attempt: number }): Promise<void> {
  const waiting = await queue.queue.getJob(outboundJobId(job));
  if (waiting && (await waiting.isDelayed())) {
    try {
      await waiting.promote();
      return;
    } catch {
      // it left the delayed set meanwhile (it runs now); add one to be sure the due row is seen
    }
  }
  await queue.enqueue([job]);
}

function toDto(r: QueuedDeliveryRow): AdminQueuedDeliveryDto {
  return {
    id: r.id,
    outboundId: r.outboundId,
    sender: r.sender,
    recipient: r.recipient,
    subject: r.subject,
    status: r.status,
    attempts: r.attempts,
    lastReply: r.lastReply,
    remoteMta: r.remoteMta,
    nextAttemptAt: r.nextAttemptAt.toISOString(),
    inProgress: r.inProgress,
    createdAt: r.createdAt.toISOString(),
  };
}
