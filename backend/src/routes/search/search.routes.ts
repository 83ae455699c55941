import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { createContactRepository, createSearchRepository, parseSearchQuery, toContactDto, toMessageListItemDto } from '@mailyard/core';
import { contactsQuery, contactsResponse, errorResponses, searchQuery, searchResponse } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

/**
 * GET /api/search: the signed-in user's messages matching a Gmail-like query (syntax and what
 * matches: core/src/mail/search-query.ts and core/src/repositories/search.repository.ts).
 * GET /api/contacts: recipient suggestions from the people the user writes to and hears from.
 */
export function searchRoutes(ctx: Pick<BackendContext, 'db'>): FastifyPluginAsyncZod {
  const search = createSearchRepository(ctx.db);
  const contacts = createContactRepository(ctx.db);
  return async (app) => {
    app.addHook('onRequest', requireUser);

    app.get('/api/search', { schema: { tags: ['search'], querystring: searchQuery, response: { 200: searchResponse, ...errorResponses(400, 401) } } }, async (req) => {
      const me = currentUser(req);
      const parsed = parseSearchQuery(req.query.q);
      const page = await search.search(me.userId, parsed, { limit: req.query.limit, cursor: req.query.cursor });
      return { messages: page.messages.map(toMessageListItemDto), nextCursor: page.nextCursor };
    });

    app.get('/api/contacts', { schema: { tags: ['search'], querystring: contactsQuery, response: { 200: contactsResponse, ...errorResponses(400, 401) } } }, async (req) => {
      const me = currentUser(req);
      const found = await contacts.suggest(me.userId, req.query.q, req.query.limit);
      return { contacts: found.map(toContactDto) };
    });
  };
}
