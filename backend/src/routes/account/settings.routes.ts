import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { createScheduledSendRepository, createUserRepository } from '@mailyard/core';
import { accountSettingsBody, accountSettingsResponse, errorResponses } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

/**
 * The signed-in user's mail settings: the undo-send delay (core/src/mail/scheduled-send.ts), the
 * display name (the From name compose uses, core/src/mail/drafts.ts) and the compose signature.
 */
export function accountSettingsRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  const settings = createScheduledSendRepository(ctx.db);
  const users = createUserRepository(ctx.db);
  async function read(userId: number) {
    return { undoSendSeconds: await settings.undoSendSeconds(userId), ...(await users.profile(userId)) };
  }
  return async (app) => {
    app.addHook('onRequest', requireUser);

    app.get('/api/account/settings', { schema: { tags: ['account'], response: { 200: accountSettingsResponse, ...errorResponses(401) } } }, async (req) => {
      return read(currentUser(req).userId);
    });

    app.patch('/api/account/settings', { schema: { tags: ['account'], body: accountSettingsBody, response: { 200: accountSettingsResponse, ...errorResponses(400, 401, 403) } } }, async (req) => {
      const me = currentUser(req);
      const { undoSendSeconds, displayName, signature } = req.body;
      if (undoSendSeconds !== undefined) await settings.setUndoSendSeconds(me.userId, undoSendSeconds);
      await users.updateProfile(me.userId, { displayName: displayName === undefined ? undefined : displayName || null, signature });
      return read(me.userId);
    });
  };
}
