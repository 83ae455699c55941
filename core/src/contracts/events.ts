import { z } from 'zod';
import { nonJsonResponse } from './common.js';
import { deliveryStatus } from './outbound.js';

/**
 * Events pushed to a user's live clients (SSE in the browser, IDLE in IMAP). Browser-safe:
 * this folder imports nothing but zod. `modseq` is the user's change-log position: every event
 * that comes from the change log carries it, and a client that reconnects asks for everything
 * after the last modseq it saw (SSE `Last-Event-ID`).
 */
const base = { modseq: z.number().int().nonnegative() };
const id = z.number().int().positive();

export const messageNewEvent = z.object({ type: z.literal('message.new'), ...base, mailboxId: id, messageId: id, uid: id, threadId: id });
export const messageFlagsEvent = z.object({ type: z.literal('message.flags'), ...base, mailboxId: id, messageId: id, uid: id, flags: z.array(z.string()) });
/** The message keeps its id; it leaves `fromUid` in the source mailbox and gets `uid` in the target. */
export const messageMovedEvent = z.object({ type: z.literal('message.moved'), ...base, messageId: id, fromMailboxId: id, fromUid: id, mailboxId: id, uid: id });
export const messageDeletedEvent = z.object({ type: z.literal('message.deleted'), ...base, mailboxId: id, messageId: id, uid: id });
/** Folder list changes (the webmail refreshes its folder list; IMAP reads the same change rows). */
export const mailboxCreatedEvent = z.object({ type: z.literal('mailbox.created'), ...base, mailboxId: id, name: z.string(), uidvalidity: id });
export const mailboxRenamedEvent = z.object({ type: z.literal('mailbox.renamed'), ...base, mailboxId: id, name: z.string(), from: z.string() });
export const mailboxDeletedEvent = z.object({ type: z.literal('mailbox.deleted'), ...base, mailboxId: id, name: z.string(), uidvalidity: id });
/** Not in the change log (no modseq): a hint to refresh a folder's counters. */
export const mailboxCountsEvent = z.object({ type: z.literal('mailbox.counts'), mailboxId: id, total: z.number().int().nonnegative(), unread: z.number().int().nonnegative() });

/** Not in the change log: a recipient of a message the user sent changed state (GET /api/outbound/:id). */
export const deliveryStatusEvent = z.object({
  type: z.literal('delivery.status'),
  outboundId: id,
  sentMessageId: id.nullable(),
  recipient: z.string(),
  status: deliveryStatus,
  reply: z.string().nullable(),
  nextAttemptAt: z.string().nullable(),
});

export const userEvent = z.discriminatedUnion('type', [
  messageNewEvent,
  messageFlagsEvent,
  messageMovedEvent,
  messageDeletedEvent,
  mailboxCreatedEvent,
  mailboxRenamedEvent,
  mailboxDeletedEvent,
  mailboxCountsEvent,
  deliveryStatusEvent,
]);
export type UserEvent = z.infer<typeof userEvent>;
export type UserEventType = UserEvent['type'];

/** GET /api/events?since=<modseq>: replay what came after it (a `Last-Event-ID` header wins). */
export const eventsQuery = z.object({
  since: z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional().describe('Replay changes after this modseq (Last-Event-ID wins when both are given)'),
});
export type EventsQuery = z.input<typeof eventsQuery>;

/**
 * The data of an `event: resync` frame: more changes were missed than the server replays, so the
 * client reloads everything; the stream goes on live from `modseq`.
 */
export const resyncEventData = z.object({ modseq: z.number().int().nonnegative() });
export type ResyncEventData = z.infer<typeof resyncEventData>;

/** GET /api/events answers a stream of Server-Sent Events, each with a `userEvent` as data. */
export const eventStreamResponse = nonJsonResponse('text/event-stream', 'Server-Sent Events: `id: <modseq>` (change-log events only), `event: <type>`, `data: <userEvent as JSON>`');

/** Redis pub/sub channel that carries one user's events. */
export function userChannel(userId: number): string {
  return `user:${userId}`;
}
