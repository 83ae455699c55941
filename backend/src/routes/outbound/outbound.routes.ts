import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError, createOutboundRepository, toOutboundDto } from '@mailyard/core';
import { errorResponses, idParam, outboundDto, outboundListQuery, outboundListResponse } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

/**
 * Where the user's sent mail is (the delivery log, core/src/repositories/outbound.repository.ts): per recipient the
 * state (queued, deferred, delivered, bounced, expired), attempts, the remote server's last reply,
 * the next attempt, and every step. Live changes arrive as `delivery.status` SSE events.
 *   GET /api/outbound                 newest first (?before=<outboundId>&limit=)
 *   GET /api/outbound/:id             one message
 *   GET /api/messages/:id/delivery    the delivery of a message in Sent
 */
export function outboundRoutes(ctx: Pick<BackendContext, 'db'>): FastifyPluginAsyncZod {
  const outbound = createOutboundRepository(ctx.db);
  return async (app) => {
    app.addHook('onRequest', requireUser);

    app.get('/api/outbound', { schema: { tags: ['sending'], querystring: outboundListQuery, response: { 200: outboundListResponse, ...errorResponses(400, 401) } } }, async (req) => {
      const me = currentUser(req);
      const views = await outbound.list(me.userId, { before: req.query.before, limit: req.query.limit });
      return { outbound: views.map(toOutboundDto), nextBefore: views.length === req.query.limit ? views[views.length - 1]!.outboundId : null };
    });

    app.get('/api/outbound/:id', { schema: { tags: ['sending'], params: idParam, response: { 200: outboundDto, ...errorResponses(400, 401, 404) } } }, async (req) => {
      const me = currentUser(req);
      const [view] = await outbound.list(me.userId, { before: req.params.id + 1, limit: 1 });
      if (!view || view.outboundId !== req.params.id) throw new AppError('outbound.not_found', 'no such sent message', 404);
      return toOutboundDto(view);
    });

    app.get('/api/messages/:id/delivery', { schema: { tags: ['sending'], params: idParam, response: { 200: outboundDto, ...errorResponses(400, 401, 404) } } }, async (req) => {
      const me = currentUser(req);
      const [view] = await outbound.list(me.userId, { sentMessageId: req.params.id, limit: 1 });
      if (!view) throw new AppError('outbound.not_found', 'this message has no delivery record (only messages sent from this server have one)', 404);
      return toOutboundDto(view);
    });
  };
}
