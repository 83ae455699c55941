import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  AppError,
  EMPTYABLE,
  createMessageRepository,
  createRedisEventPublisher,
  createSenderRuleRepository,
  deleteMessages,
  loadMessageBytes,
  loadMessagePart,
  loadStoredMessage,
  learnFromTransfers,
  moveMessages,
  normalizeSenderPattern,
  requestLearn,
  setFlags,
  sharedMessageRenderer,
  toMessageDetailDto,
  toMessageListItemDto,
  toMessageStateDto,
  toMovedStateResponse,
  toSenderRuleDto,
  type MessageAttachment,
  type MessageOpsDeps,
  type SpecialUse,
} from '@mailyard/core';
import {
  attachmentContentResponse,
  attachmentParams,
  errorResponses,
  idParam,
  inlineImageQuery,
  messageDeleteResponse,
  messageDetailQuery,
  messageDetailSchema,
  messageFlagsBody,
  messageIdsBody,
  messageMoveBody,
  messageOpResponse,
  messageSourceResponse,
  notSpamBody,
  notSpamResponse,
  threadResponse,
} from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

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

const opErrors = errorResponses(400, 401, 403, 404, 409);

/**
 * An attachment's bytes as a download. The type is the sender's claim, so the browser is told
 * not to sniff, not to render inline, and to sandbox anything it does open (an `<img>` still shows it).
 */
function sendAttachment(reply: FastifyReply, attachment: MessageAttachment, index: number): FastifyReply {
  return reply
    .header('content-type', attachment.contentType)
    .header('content-disposition', attachmentDisposition(attachment.filename ?? `attachment-${index}`))
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', 'sandbox')
    .header('cache-control', 'private, no-store')
    .send(attachment.content);
}

export function messageRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  const messages = createMessageRepository(ctx.db);
  // Moves into and out of Junk (here and in not-spam) teach the spam engine, when there is one.
  const ops: MessageOpsDeps = { db: ctx.db, events: createRedisEventPublisher(ctx.redis), log: ctx.log, afterTransfer: ctx.spamLearn && learnFromTransfers(ctx.spamLearn) };
  const senderRules = createSenderRuleRepository(ctx.db);

  async function load(userId: number, id: number) {
    const { message, blob } = await loadStoredMessage(ctx.db, userId, id);
    return { message, raw: blob };
  }

  return async (app) => {
    app.addHook('onRequest', requireUser);

    app.get(
      '/api/messages/:id',
      { schema: { tags: ['messages'], params: idParam, querystring: messageDetailQuery, response: { 200: messageDetailSchema, ...errorResponses(400, 401, 404) } } },
      async (req) => {
        const me = currentUser(req);
        const { message, raw } = await load(me.userId, req.params.id);
        // Parsed and sanitized on worker threads, once per message (a cache), the HTML capped.
        // Inline images too large for the HTML get signed links: the reader's sandboxed frame sends no cookie.
        const rendered = await sharedMessageRenderer().render(message.id, raw, {
          allowRemoteImages: req.query.remoteImages === '1',
          attachmentUrl: (index) => ctx.inlineImages.url({ userId: me.userId, messageId: message.id, index }),
        });
        return toMessageDetailDto(message, rendered);
      },
    );

    // The message as stored (with this server's trace headers first), as an .eml download.
    app.get('/api/messages/:id/raw', { schema: { tags: ['messages'], params: idParam, response: { 200: messageSourceResponse, ...errorResponses(400, 401, 404) } } }, async (req, reply) => {
      const bytes = await loadMessageBytes(ctx.db, currentUser(req).userId, req.params.id);
      return reply
        .header('content-type', 'message/rfc822')
        .header('content-disposition', `attachment; filename="message-${req.params.id}.eml"`)
        .header('x-content-type-options', 'nosniff')
        .send(bytes);
    });

    app.get(
      '/api/messages/:id/attachments/:index',
      { schema: { tags: ['messages'], params: attachmentParams, response: { 200: attachmentContentResponse, ...errorResponses(400, 401, 404) } } },
      async (req, reply) => {
        const attachment = await loadMessagePart(ctx.db, currentUser(req).userId, req.params.id, req.params.index);
        return sendAttachment(reply, attachment, req.params.index);
      },
    );

    app.get(
      '/api/threads/:id',
      { schema: { tags: ['messages'], params: idParam, response: { 200: threadResponse, ...errorResponses(400, 401, 404) } } },
      async (req) => {
        const me = currentUser(req);
        const list = await messages.listThread(me.userId, req.params.id);
        if (list.length === 0) throw new AppError('thread.not_found', 'no such thread', 404);
        return { threadId: req.params.id, messages: list.map(toMessageListItemDto) };
      },
    );

    app.post('/api/messages/flags', { schema: { tags: ['messages'], body: messageFlagsBody, response: { 200: messageOpResponse, ...opErrors } } }, async (req) => {
      const me = currentUser(req);
      const add: string[] = [];
      const remove: string[] = [];
      if (req.body.read !== undefined) (req.body.read ? add : remove).push('\\Seen');
      if (req.body.starred !== undefined) (req.body.starred ? add : remove).push('\\Flagged');
      const result = await setFlags(ops, me.userId, req.body.ids, { add, remove });
      return { messages: result.map(toMessageStateDto) };
    });

    app.post('/api/messages/move', { schema: { tags: ['messages'], body: messageMoveBody, response: { 200: messageOpResponse, ...opErrors } } }, async (req) => {
      const me = currentUser(req);
      return toMovedStateResponse(await moveMessages(ops, me.userId, req.body.ids, req.body.mailboxId));
    });

    const moveTo = (path: string, specialUse: SpecialUse, onlyFrom?: SpecialUse[]) =>
      app.post(path, { schema: { tags: ['messages'], body: messageIdsBody, response: { 200: messageOpResponse, ...opErrors } } }, async (req) => {
        const me = currentUser(req);
        return toMovedStateResponse(await moveMessages(ops, me.userId, req.body.ids, { specialUse }, { onlyFrom }));
      });
    moveTo('/api/messages/archive', '\\Archive');
    moveTo('/api/messages/trash', '\\Trash');
    // Restore: out of Trash, back to INBOX (409 message.not_in_trash for anything not in Trash).
    moveTo('/api/messages/restore', '\\Inbox', ['\\Trash']);

    // Not spam: back to the Inbox through the mailbox writer, the filter taught "ham", and with
    // allowSender the From address put on the user's allow list (issue 11).
    app.post(
      '/api/messages/:id/not-spam',
      { schema: { tags: ['messages'], params: idParam, body: notSpamBody, response: { 200: notSpamResponse, ...opErrors } } },
      async (req) => {
        const me = currentUser(req);
        const message = await messages.get(me.userId, req.params.id);
        if (!message) throw new AppError('message.not_found', 'no such message', 404);
        const pattern = req.body.allowSender ? normalizeSenderPattern(message.from[0]?.address ?? '') : null;
        if (req.body.allowSender && !pattern) throw new AppError('validation.failed', 'the message has no sender address to put on the allow list', 400);
        const moved = toMovedStateResponse(await moveMessages(ops, me.userId, [message.id], { specialUse: '\\Inbox' }));
        const sender = pattern ? toSenderRuleDto(await senderRules.upsert(me.userId, 'allow', pattern)) : null;
        try {
          await requestLearn(ctx.spamLearn ?? { queue: null }, { userId: me.userId, messageIds: [message.id], kind: 'ham' });
        } catch (err) {
          // The move is done; a lost learn request only leaves the filter untaught.
          req.log.warn({ event: 'spam.learn_request_failed', err: (err as Error).message });
        }
        return { message: moved.messages[0]!, sender };
      },
    );

    // Forever: only from Trash or Junk (409 message.not_in_trash otherwise), so one click cannot lose mail.
    app.post('/api/messages/delete', { schema: { tags: ['messages'], body: messageIdsBody, response: { 200: messageDeleteResponse, ...opErrors } } }, async (req) => {
      const me = currentUser(req);
      const deleted = await deleteMessages(ops, me.userId, req.body.ids, { onlyFrom: EMPTYABLE });
      return { deleted: deleted.length };
    });
  };
}

/**
 * An inline image from the reader's sandboxed frame, which sends no session cookie: open without a
 * session, but only through a link the message route signed for that user, part and hour
 * (core/src/mail/render/inline-image-links.ts), and loaded scoped by that user.
 */
export function inlineImageRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/messages/:id/attachments/:index/inline',
      { schema: { tags: ['messages'], params: attachmentParams, querystring: inlineImageQuery, response: { 200: attachmentContentResponse, ...errorResponses(400, 403, 404) } } },
      async (req, reply) => {
        const link = { userId: req.query.u, messageId: req.params.id, index: req.params.index, expires: req.query.e };
        if (!ctx.inlineImages.verify(link, req.query.s)) throw new AppError('attachment.link_invalid', 'this image link has expired or is not valid', 403);
        const attachment = await loadMessagePart(ctx.db, link.userId, link.messageId, link.index);
        return sendAttachment(reply, attachment, link.index);
      },
    );
  };
}
