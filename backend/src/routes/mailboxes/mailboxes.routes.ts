import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError, createMailboxRepository, createMessageRepository, errorResponse, idParam, mailboxSchema, messageListQuery, messageListResponse, type Db, type MailboxRow, type MessageListItem } from '@mailyard/core';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

export function toMailboxDto(m: MailboxRow) {
  return { id: m.id, name: m.name, specialUse: m.specialUse, total: m.messageCount, unread: m.unseenCount };
}

export function toListItemDto(m: MessageListItem) {
  return {
    id: m.id,
    mailboxId: m.mailboxId,
    threadId: m.threadId,
    date: m.internalDate.toISOString(),
    from: m.from,
    to: m.to,
    subject: m.subject,
    snippet: m.snippet,
    unread: !m.flags.includes('\\Seen'),
    starred: m.flags.includes('\\Flagged'),
    hasAttachments: m.hasAttachments,
    size: m.size,
  };
}

/** Cursor: the (date, id) of the last message of a page, opaque to clients. */
export function encodeCursor(m: MessageListItem): string {
  return Buffer.from(`${m.internalDate.getTime()}.${m.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { date: Date; id: number } {
  const match = /^(\d{1,15})\.(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw new AppError('request.invalid', 'cursor is not one this server gave out', 400);
  return { date: new Date(Number(match[1])), id: Number(match[2]) };
}

export function mailboxRoutes(deps: { db: Db }): FastifyPluginAsyncZod {
  const mailboxes = createMailboxRepository(deps.db);
  const messages = createMessageRepository(deps.db);
  return async (app) => {
    app.addHook('preHandler', requireUser);

    app.get('/api/mailboxes', { schema: { tags: ['mailboxes'], response: { 200: z.object({ mailboxes: z.array(mailboxSchema) }) } } }, async (req) => {
      const me = currentUser(req);
      return { mailboxes: (await mailboxes.list(me.userId)).map(toMailboxDto) };
    });

    app.get(
      '/api/mailboxes/:id/messages',
      { schema: { tags: ['mailboxes'], params: idParam, querystring: messageListQuery, response: { 200: messageListResponse, 404: errorResponse } } },
      async (req) => {
        const me = currentUser(req);
        const mailbox = await mailboxes.get(me.userId, req.params.id);
        if (!mailbox) throw new AppError('mailbox.not_found', 'no such mailbox', 404);
        const before = req.query.cursor ? decodeCursor(req.query.cursor) : undefined;
        const page = await messages.listPage(me.userId, mailbox.id, { limit: req.query.limit + 1, before });
        const more = page.length > req.query.limit;
        const items = more ? page.slice(0, req.query.limit) : page;
        return { messages: items.map(toListItemDto), nextCursor: more ? encodeCursor(items[items.length - 1]!) : null };
      },
    );
  };
}
