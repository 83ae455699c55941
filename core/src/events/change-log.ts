import type { Insertable } from 'kysely';
import { userEvent, type UserEvent } from '../contracts/events.js';
import type { ChangeKind, ChangesTable } from '../db/schema.js';
import type { Logger } from '../log/logger.js';
import type { ChangeRow } from '../repositories/change.repository.js';

/**
 * The per-user change log (`changes`) as the events live clients receive: `toChangeRow` for the
 * writer, `changeRowToEvent` for the reader (the change feed's replay, see change-feed.ts), so a
 * replayed event is exactly the event that was published live. The queries are in
 * repositories/change.repository.ts.
 *
 * What each kind of row must carry (columns, then `payload`), written in the same transaction
 * that takes the user's modseq:
 *
 * | kind              | mailbox_id                 | message_id | uid                     | payload                                   |
 * | ----------------- | -------------------------- | ---------- | ----------------------- | ----------------------------------------- |
 * | `message.new`     | the mailbox it was filed in | the message | its UID there           | `{ threadId: number }`                    |
 * | `message.flags`   | the mailbox it is in        | the message | its UID there           | `{ flags: string[] }` — the full set after the change |
 * | `message.moved`   | the TARGET mailbox          | the message (keeps its id) | its NEW UID in the target | `{ fromMailboxId: number, fromUid: number }` |
 * | `message.deleted` | the mailbox it was in       | the message | the UID it had          | `{}`                                      |
 *
 * | `mailbox.created` | the new folder              | null       | null                    | `{ name, uidvalidity }`                   |
 * | `mailbox.renamed` | the folder                  | null       | null                    | `{ from, name }`                          |
 * | `mailbox.deleted` | the folder it was           | null       | null                    | `{ name, uidvalidity }`                   |
 *
 * A row that does not make a valid event (a writer broke the rule above) is skipped and logged,
 * never sent.
 * `toChangeRow` builds a conforming row from the event a writer is about to publish.
 */

/** Change kinds that become events (the rest are for IMAP only). */
export const EVENT_CHANGE_KINDS = ['message.new', 'message.flags', 'message.moved', 'message.deleted', 'mailbox.created', 'mailbox.renamed', 'mailbox.deleted'] as const satisfies readonly ChangeKind[];

/** An event that comes from the change log (everything but the `mailbox.counts` and `delivery.status` hints). */
export type ChangeLogEvent = Extract<UserEvent, { modseq: number }>;

/** The `changes` row for an event, following the table above. */
export function toChangeRow(userId: number, event: ChangeLogEvent): Insertable<ChangesTable> {
  if (event.type === 'mailbox.created' || event.type === 'mailbox.renamed' || event.type === 'mailbox.deleted') {
    const { type, modseq, mailboxId, ...payload } = event;
    return { user_id: userId, modseq, kind: type, mailbox_id: mailboxId, message_id: null, uid: null, payload: JSON.stringify(payload) };
  }
  const base = { user_id: userId, modseq: event.modseq, kind: event.type, mailbox_id: event.mailboxId, message_id: event.messageId, uid: event.uid };
  switch (event.type) {
    case 'message.new':
      return { ...base, payload: JSON.stringify({ threadId: event.threadId }) };
    case 'message.flags':
      return { ...base, payload: JSON.stringify({ flags: event.flags }) };
    case 'message.moved':
      return { ...base, payload: JSON.stringify({ fromMailboxId: event.fromMailboxId, fromUid: event.fromUid }) };
    case 'message.deleted':
      return { ...base, payload: JSON.stringify({}) };
  }
}

/** The event a row stands for, or null when the row does not make a valid one. */
export function changeRowToEvent(row: ChangeRow): ChangeLogEvent | null {
  const p = row.payload ?? {};
  const common = { modseq: row.modseq, mailboxId: row.mailbox_id, messageId: row.message_id, uid: row.uid };
  let candidate: unknown;
  switch (row.kind) {
    case 'message.new':
      candidate = { type: row.kind, ...common, threadId: p.threadId };
      break;
    case 'message.flags':
      candidate = { type: row.kind, ...common, flags: p.flags };
      break;
    case 'message.moved':
      candidate = { type: row.kind, ...common, fromMailboxId: p.fromMailboxId, fromUid: p.fromUid };
      break;
    case 'message.deleted':
      candidate = { type: row.kind, ...common };
      break;
    case 'mailbox.created':
    case 'mailbox.deleted':
      candidate = { type: row.kind, modseq: row.modseq, mailboxId: row.mailbox_id, name: p.name, uidvalidity: p.uidvalidity };
      break;
    case 'mailbox.renamed':
      candidate = { type: row.kind, modseq: row.modseq, mailboxId: row.mailbox_id, name: p.name, from: p.from };
      break;
    default:
      return null;
  }
  const parsed = userEvent.safeParse(candidate);
  return parsed.success && 'modseq' in parsed.data ? parsed.data : null;
}

/** The events these rows of the user's stand for, in order; a row that makes no valid event is skipped and logged. */
export function changeRowsToEvents(userId: number, rows: readonly ChangeRow[], log?: Logger): ChangeLogEvent[] {
  const events: ChangeLogEvent[] = [];
  for (const row of rows) {
    const event = changeRowToEvent(row);
    if (event) events.push(event);
    else log?.warn({ event: 'changes.invalid_row', userId, modseq: row.modseq, kind: row.kind });
  }
  return events;
}
