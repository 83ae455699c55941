import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError, createSenderRuleRepository, normalizeSenderPattern, toSenderRuleDto } from '@mailyard/core';
import { errorResponses, idParam, noContent, senderRuleBody, senderRuleResponse, senderRulesResponse } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

/**
 * The signed-in user's allow and block lists of senders (issue 11; core/src/contracts/filters.ts):
 * an address or a domain per entry. The filer applies them to each message it files for the user
 * (core/src/spool/spool-filer.ts), whatever the spam score; greylisting skips allowed senders.
 */
export function filterRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  const rules = createSenderRuleRepository(ctx.db);

  return async (app) => {
    app.addHook('onRequest', requireUser);

    app.get('/api/filters/senders', { schema: { tags: ['filters'], response: { 200: senderRulesResponse, ...errorResponses(401) } } }, async (req) => {
      const list = await rules.list(currentUser(req).userId);
      return { senders: list.map(toSenderRuleDto) };
    });

    // Adds an entry; a pattern already listed switches to the kind asked for.
    app.post('/api/filters/senders', { schema: { tags: ['filters'], body: senderRuleBody, response: { 200: senderRuleResponse, ...errorResponses(400, 401, 403) } } }, async (req) => {
      const pattern = normalizeSenderPattern(req.body.pattern);
      if (!pattern) throw new AppError('validation.failed', `"${req.body.pattern}" is neither an e-mail address nor a domain name (like ann@example.com or example.com)`, 400);
      return { sender: toSenderRuleDto(await rules.upsert(currentUser(req).userId, req.body.kind, pattern)) };
    });

    app.delete(
      '/api/filters/senders/:id',
      { schema: { tags: ['filters'], params: idParam, response: { 204: noContent, ...errorResponses(400, 401, 403, 404) } } },
      async (req, reply) => {
        if (!(await rules.remove(currentUser(req).userId, req.params.id))) throw new AppError('sender_rule.not_found', 'no such entry in your sender lists', 404);
        return reply.code(204).send();
      },
    );
  };
}
