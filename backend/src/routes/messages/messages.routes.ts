import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError, addressSchema, createBlobRepository, createMessageRepository, errorResponse, idParam, renderMessage, type Db } from '@mailyard/core';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

const messageDetail = z.object({
  id: z.number().int(),
  mailboxId: z.number().int(),
  threadId: z.number().int(),
  messageId: z.string().nullable(),
  date: z.string(),
  from: z.array(addressSchema),
  to: z.array(addressSchema),
  cc: z.array(addressSchema),
  subject: z.string(),
  unread: z.boolean(),
  starred: z.boolean(),
  text: z.string(),
  /** Sanitized; show it in a sandboxed iframe. Null for plain-text mail. */
  html: z.string().nullable(),
  hasRemoteContent: z.boolean(),
  attachments: z.array(z.object({ index: z.number().int(), filename: z.string().nullable(), contentType: z.string(), size: z.number().int(), inline: z.boolean(), url: z.string() })),
});

export function messageRoutes(deps: { db: Db }): FastifyPluginAsyncZod {
  const messages = createMessageRepository(deps.db);
  const blobs = createBlobRepository(deps.db);

  async function load(userId: number, id: number) {
    const message = await messages.get(userId, id);
    if (!message) throw new AppError('message.not_found', 'no such message', 404);
    const raw = await blobs.get(message.blobHash);
    if (!raw) throw new AppError('message.unavailable', 'message content is missing', 500);
    return { message, raw };
  }

  return async (app) => {
    app.addHook('preHandler', requireUser);

    app.get(
      '/api/messages/:id',
      { schema: { tags: ['messages'], params: idParam, querystring: z.object({ remoteImages: z.enum(['0', '1']).default('0') }), response: { 200: messageDetail, 404: errorResponse } } },
      async (req) => {
        const me = currentUser(req);
        const { message, raw } = await load(me.userId, req.params.id);
        const attachmentUrl = (index: number) => `/api/messages/${message.id}/attachments/${index}`;
        const rendered = await renderMessage(raw, { allowRemoteImages: req.query.remoteImages === '1', attachmentUrl });
        return {
          id: message.id,
          mailboxId: message.mailboxId,
          threadId: message.threadId,
          messageId: message.messageId,
          date: message.internalDate.toISOString(),
          from: message.from,
          to: message.to,
          cc: message.cc,
          subject: message.subject,
          unread: !message.flags.includes('\\Seen'),
          starred: message.flags.includes('\\Flagged'),
          text: rendered.text,
          html: rendered.html,
          hasRemoteContent: rendered.hasRemoteContent,
          attachments: rendered.attachments.map((a) => ({ index: a.index, filename: a.filename, contentType: a.contentType, size: a.size, inline: a.inline, url: attachmentUrl(a.index) })),
        };
      },
    );

    // The message as stored (with this server's trace headers first), as an .eml download.
    app.get('/api/messages/:id/raw', { schema: { tags: ['messages'], params: idParam } }, async (req, reply) => {
      const me = currentUser(req);
      const { message, raw } = await load(me.userId, req.params.id);
      return reply
        .header('content-type', 'message/rfc822')
        .header('content-disposition', `attachment; filename="message-${message.id}.eml"`)
        .header('x-content-type-options', 'nosniff')
        .send(Buffer.concat([Buffer.from(message.traceHeaders), raw]));
    });
  };
}
