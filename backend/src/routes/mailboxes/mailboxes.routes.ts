import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  AppError,
  createMailbox,
  createMailboxRepository,
  createMessageRepository,
  createRedisEventPublisher,
  deleteMailbox,
  emptyMailbox,
  renameMailbox,
  toMailboxDto,
  toMessageListItemDto,
  type MessageListItem,
  type MessageOpsDeps,
} from '@mailyard/core';
import {
  errorResponses,
  idParam,
  mailboxDeleteResponse,
  mailboxListResponse,
  mailboxNameBody,
  mailboxSchema,
  messageDeleteResponse,
  messageListQuery,
  messageListResponse,
} from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

/** Cursor: the (date, id) of the last message of a page, opaque to clients. */
export function encodeCursor(m: MessageListItem): string {
  return Buffer.from(`${m.internalDate.getTime()}.${m.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { date: Date; id: number } {
  const match = /^(\d{1,15})\.(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new AppError('request.invalid', 'cursor is not one this server gave out', 400);
  return { date: new Date(Number(match[1])), id: Number(match[2]) };
}

const writeErrors = errorResponses(400, 401, 403, 404, 409);

export function mailboxRoutes(ctx: BackendContext): FastifyPluginAsyncZod {
  const mailboxes = createMailboxRepository(ctx.db);
  const messages = createMessageRepository(ctx.db);
  const ops: MessageOpsDeps = { db: ctx.db, events: createRedisEventPublisher(ctx.redis), log: ctx.log };
  return async (app) => {
    app.addHook('onRequest', requireUser);

    app.get('/api/mailboxes', { schema: { tags: ['mailboxes'], response: { 200: mailboxListResponse, ...errorResponses(401) } } }, async (req) => {
      const me = currentUser(req);
      return { mailboxes: (await mailboxes.list(me.userId)).map(toMailboxDto) };
    });

    app.get(
      '/api/mailboxes/:id/messages',
      { schema: { tags: ['mailboxes'], params: idParam, querystring: messageListQuery, response: { 200: messageListResponse, ...errorResponses(400, 401, 404) } } },
      async (req) => {
        const me = currentUser(req);
        const mailbox = await mailboxes.get(me.userId, req.params.id);
        if (!mailbox) throw new AppError('mailbox.not_found', 'no such mailbox', 404);
        const before = req.query.cursor ? decodeCursor(req.query.cursor) : undefined;
        const page = await messages.listPage(me.userId, mailbox.id, { limit: req.query.limit + 1, before });
        const more = page.length > req.query.limit;
        const items = more ? page.slice(0, req.query.limit) : page;
        return { messages: items.map(toMessageListItemDto), nextCursor: more ? encodeCursor(items[items.length - 1]!) : null };
      },
    );

    // Custom folders. System folders (any with a special use) answer 403 mailbox.protected.
    app.post('/api/mailboxes', { schema: { tags: ['mailboxes'], body: mailboxNameBody, response: { 201: mailboxSchema, ...writeErrors } } }, async (req, reply) => {
      const me = currentUser(req);
      const created = await createMailbox(ops, me.userId, req.body.name);
      return reply.code(201).send(toMailboxDto(created));
    });

    app.patch('/api/mailboxes/:id', { schema: { tags: ['mailboxes'], params: idParam, body: mailboxNameBody, response: { 200: mailboxSchema, ...writeErrors } } }, async (req) => {
      const me = currentUser(req);
      return toMailboxDto(await renameMailbox(ops, me.userId, req.params.id, req.body.name));
    });

    // Deletes the folder and every message in it.
    app.delete('/api/mailboxes/:id', { schema: { tags: ['mailboxes'], params: idParam, response: { 200: mailboxDeleteResponse, ...writeErrors } } }, async (req) => {
      const me = currentUser(req);
      return deleteMailbox(ops, me.userId, req.params.id);
    });

    // Deletes every message in Trash or Junk forever (409 mailbox.not_emptyable for other folders).
    app.post('/api/mailboxes/:id/empty', { schema: { tags: ['mailboxes'], params: idParam, response: { 200: messageDeleteResponse, ...writeErrors } } }, async (req) => {
      const me = currentUser(req);
      return { deleted: (await emptyMailbox(ops, me.userId, req.params.id)).length };
    });
  };
}
