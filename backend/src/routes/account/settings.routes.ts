import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { createScheduledSendRepository } from '@mailyard/core';
import { accountSettingsBody, accountSettingsResponse, errorResponses } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

/** The signed-in user's mail settings: the undo-send delay (core/src/mail/scheduled-send.ts). */
export function accountSettingsRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  const settings = createScheduledSendRepository(ctx.db);
  return async (app) => {
    app.addHook('onRequest', requireUser);

    app.get('/api/account/settings', { schema: { tags: ['account'], response: { 200: accountSettingsResponse, ...errorResponses(401) } } }, async (req) => {
      return { undoSendSeconds: await settings.undoSendSeconds(currentUser(req).userId) };
    });

    app.patch('/api/account/settings', { schema: { tags: ['account'], body: accountSettingsBody, response: { 200: accountSettingsResponse, ...errorResponses(400, 401, 403) } } }, async (req) => {
      const me = currentUser(req);
      if (req.body.undoSendSeconds !== undefined) await settings.setUndoSendSeconds(me.userId, req.body.undoSendSeconds);
      return { undoSendSeconds: await settings.undoSendSeconds(me.userId) };
    });
  };
}
