import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  AppError,
  EMPTYABLE,
  addressSchema,
  attachmentParams,
  createBlobRepository,
  createMessageRepository,
  createRedisEventPublisher,
  deleteMessages,
  errorResponse,
  idParam,
  loadAttachment,
  messageDeleteResponse,
  messageFlagsBody,
  messageIdsBody,
  messageMoveBody,
  messageOpResponse,
  moveMessages,
  renderMessage,
  setFlags,
  threadResponse,
  type MessageOpsDeps,
  type MoveResult,
  type SpecialUse,
} from '@mailyard/core';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';
import { toListItemDto } from '../mailboxes/mailboxes.routes.js';

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

/** RFC 6266 / RFC 5987: an ASCII fallback and the exact name as UTF-8 percent-encoded attr-chars. */
export function attachmentDisposition(filename: string): string {
  let encoded = '';
  for (const byte of Buffer.from(filename, 'utf8')) {
    const ch = String.fromCharCode(byte);
    encoded += /[A-Za-z0-9!#$&+\-.^_`|~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%;]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

const opErrors = { 400: errorResponse, 404: errorResponse, 409: errorResponse };

function movedState(result: MoveResult) {
  const all = [...result.moved.map((m) => ({ id: m.id, flags: m.flags })), ...result.unchanged];
  return {
    messages: all
      .sort((a, b) => a.id - b.id)
      .map((m) => ({ id: m.id, mailboxId: result.target.id, unread: !m.flags.includes('\\Seen'), starred: m.flags.includes('\\Flagged') })),
  };
}

export function messageRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  const messages = createMessageRepository(ctx.db);
  const blobs = createBlobRepository(ctx.db);
  const ops: MessageOpsDeps = { db: ctx.db, events: createRedisEventPublisher(ctx.redis), log: ctx.log };

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

    // An attachment's bytes as a download. The type is the sender's claim, so the browser is told
    // not to sniff, not to render inline, and to sandbox anything it does open.
    app.get(
      '/api/messages/:id/attachments/:index',
      { schema: { tags: ['messages'], params: attachmentParams } },
      async (req, reply) => {
        const me = currentUser(req);
        const { raw } = await load(me.userId, req.params.id);
        const attachment = await loadAttachment(raw, req.params.index);
        if (!attachment) throw new AppError('attachment.not_found', 'no such attachment', 404);
        return reply
          .header('content-type', attachment.contentType)
          .header('content-disposition', attachmentDisposition(attachment.filename ?? `attachment-${req.params.index}`))
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', 'sandbox')
          .header('cache-control', 'private, no-store')
          .send(attachment.content);
      },
    );

    app.get(
      '/api/threads/:id',
      { schema: { tags: ['messages'], params: idParam, response: { 200: threadResponse, 404: errorResponse } } },
      async (req) => {
        const me = currentUser(req);
        const list = await messages.listThread(me.userId, req.params.id);
        if (list.length === 0) throw new AppError('thread.not_found', 'no such thread', 404);
        return { threadId: req.params.id, messages: list.map(toListItemDto) };
      },
    );

    app.post('/api/messages/flags', { schema: { tags: ['messages'], body: messageFlagsBody, response: { 200: messageOpResponse, ...opErrors } } }, async (req) => {
      const me = currentUser(req);
      const add: string[] = [];
      const remove: string[] = [];
      if (req.body.read !== undefined) (req.body.read ? add : remove).push('\\Seen');
      if (req.body.starred !== undefined) (req.body.starred ? add : remove).push('\\Flagged');
      const result = await setFlags(ops, me.userId, req.body.ids, { add, remove });
      return { messages: result.map((m) => ({ id: m.id, mailboxId: m.mailboxId, unread: !m.flags.includes('\\Seen'), starred: m.flags.includes('\\Flagged') })) };
    });

    app.post('/api/messages/move', { schema: { tags: ['messages'], body: messageMoveBody, response: { 200: messageOpResponse, ...opErrors } } }, async (req) => {
      const me = currentUser(req);
      return movedState(await moveMessages(ops, me.userId, req.body.ids, req.body.mailboxId));
    });

    const moveTo = (path: string, specialUse: SpecialUse, onlyFrom?: SpecialUse[]) =>
      app.post(path, { schema: { tags: ['messages'], body: messageIdsBody, response: { 200: messageOpResponse, ...opErrors } } }, async (req) => {
        const me = currentUser(req);
        return movedState(await moveMessages(ops, me.userId, req.body.ids, { specialUse }, { onlyFrom }));
      });
    moveTo('/api/messages/archive', '\\Archive');
    moveTo('/api/messages/trash', '\\Trash');
    // Restore: out of Trash, back to INBOX (409 message.not_in_trash for anything not in Trash).
    moveTo('/api/messages/restore', '\\Inbox', ['\\Trash']);

    // Forever: only from Trash or Junk (409 message.not_in_trash otherwise), so one click cannot lose mail.
    app.post('/api/messages/delete', { schema: { tags: ['messages'], body: messageIdsBody, response: { 200: messageDeleteResponse, ...opErrors } } }, async (req) => {
      const me = currentUser(req);
      const deleted = await deleteMessages(ops, me.userId, req.body.ids, { onlyFrom: EMPTYABLE });
      return { deleted: deleted.length };
    });
  };
}
