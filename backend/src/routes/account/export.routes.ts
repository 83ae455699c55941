import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError, createMailboxRepository, exportMailboxes } from '@mailyard/core';
import { accountExportQuery, accountExportResponse, errorResponses } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

/**
 * The signed-in user's mail as an mbox download (core/src/mail/transfer/export.ts), streamed as
 * it is read: memory stays at one page of messages whatever the mailbox's size. A failure once
 * the download has started cuts it short (the client sees an incomplete file, never a bad one
 * presented as whole: the length is not announced, and the stream is destroyed).
 */
export function accountExportRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.addHook('onRequest', requireUser);

    app.get('/api/account/export', { schema: { tags: ['account'], querystring: accountExportQuery, response: { 200: accountExportResponse, ...errorResponses(400, 401, 404) } } }, async (req, reply) => {
      const me = currentUser(req);
      const { mailbox } = req.query;
      if (mailbox !== undefined && !(await createMailboxRepository(ctx.db).findByName(me.userId, mailbox))) {
        throw new AppError('mailbox.not_found', `there is no folder "${mailbox}"`, 404);
      }
      const body = new PassThrough();
      exportMailboxes(ctx.db, me.userId, {
        mailbox,
        write: async (entry) => {
          if (body.destroyed) throw new Error('the client went away');
          if (!body.write(entry)) await Promise.race([once(body, 'drain'), once(body, 'close')]);
        },
      }).then(
        () => body.end(),
        (err: Error) => {
          req.log.warn({ event: 'export.failed', err: err.message });
          body.destroy(err);
        },
      );
      const name = `mail-${me.address.replace(/[^A-Za-z0-9@._-]/g, '_')}${mailbox ? `-${mailbox.replace(/[^A-Za-z0-9._-]/g, '_')}` : ''}.mbox`;
      return reply
        .header('content-type', 'application/mbox')
        .header('content-disposition', `attachment; filename="${name}"`)
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'private, no-store')
        .send(body);
    });
  };
}
