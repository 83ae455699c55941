import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError, createUserRepository } from '@mailyard/core';
import { accountUsageResponse, errorResponses } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

/** The signed-in user's storage use and quota (core/src/mail/quota.ts), for the Settings page. */
export function accountUsageRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  const users = createUserRepository(ctx.db);
  return async (app) => {
    app.addHook('onRequest', requireUser);

    app.get('/api/account/usage', { schema: { tags: ['account'], description: 'Bytes of mail stored and the quota (null: none).', response: { 200: accountUsageResponse, ...errorResponses(401, 404) } } }, async (req) => {
      const usage = await users.usage(currentUser(req).userId);
      if (!usage) throw new AppError('user.not_found', 'no such user', 404);
      return usage;
    });
  };
}
