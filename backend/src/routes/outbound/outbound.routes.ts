import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { AppError, errorResponse, idParam, listOutbound, outboundDto, outboundListQuery, outboundListResponse, type OutboundView } from '@mailyard/core';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

/**
 * Where the user's sent mail is (the delivery log, core/src/mail/outbound.ts): per recipient the
 * state (queued, deferred, delivered, bounced, expired), attempts, the remote server's last reply,
 * the next attempt, and every step. Live changes arrive as `delivery.status` SSE events.
 *   GET /api/outbound                 newest first (?before=<outboundId>&limit=)
 *   GET /api/outbound/:id             one message
 *   GET /api/messages/:id/delivery    the delivery of a message in Sent
 */
function toDto(view: OutboundView): z.infer<typeof outboundDto> {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    outboundId: view.outboundId,
    sentMessageId: view.sentMessageId,
    subject: view.subject,
    createdAt: view.createdAt.toISOString(),
    recipients: view.recipients.map((r) => ({
      recipient: r.recipient,
      status: r.status,
      attempts: r.attempts,
      lastReply: r.lastReply,
      remoteMta: r.remoteMta,
      nextAttemptAt: iso(r.nextAttemptAt),
      updatedAt: r.updatedAt.toISOString(),
      log: r.log.map((e) => ({ status: e.status, reply: e.reply, remoteMta: e.remoteMta, nextAttemptAt: iso(e.nextAttemptAt), at: e.at.toISOString() })),
    })),
  };
}

export function outboundRoutes(ctx: Pick<BackendContext, 'db'>): FastifyPluginAsyncZod {
  return async (app) => {
    app.addHook('preHandler', requireUser);

    app.get('/api/outbound', { schema: { tags: ['sending'], querystring: outboundListQuery, response: { 200: outboundListResponse, 400: errorResponse } } }, async (req) => {
      const me = currentUser(req);
      const views = await listOutbound(ctx.db, me.userId, { before: req.query.before, limit: req.query.limit });
      return { outbound: views.map(toDto), nextBefore: views.length === req.query.limit ? views[views.length - 1]!.outboundId : null };
    });

    app.get('/api/outbound/:id', { schema: { tags: ['sending'], params: idParam, response: { 200: outboundDto, 400: errorResponse, 404: errorResponse } } }, async (req) => {
      const me = currentUser(req);
      const [view] = await listOutbound(ctx.db, me.userId, { before: req.params.id + 1, limit: 1 });
      if (!view || view.outboundId !== req.params.id) throw new AppError('outbound.not_found', 'no such sent message', 404);
      return toDto(view);
    });

    app.get('/api/messages/:id/delivery', { schema: { tags: ['sending'], params: idParam, response: { 200: outboundDto, 400: errorResponse, 404: errorResponse } } }, async (req) => {
      const me = currentUser(req);
      const [view] = await listOutbound(ctx.db, me.userId, { sentMessageId: req.params.id, limit: 1 });
      if (!view) throw new AppError('outbound.not_found', 'this message has no delivery record (only messages sent from this server have one)', 404);
      return toDto(view);
    });
  };
}
