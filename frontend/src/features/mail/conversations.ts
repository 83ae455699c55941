/**
 * Conversation grouping of a folder's list, as pure functions: the loaded messages of one thread
 * become one row that shows the newest of them, the number, its senders, and unread/star/attachment
 * when any message has them. The row's id is its newest message's id, so selection, the keyboard
 * row and the open row work as for single messages; `messageIdsOf` turns row ids back into every
 * message of their conversations (what a bulk action acts on). Whether a user groups is remembered
 * per user in localStorage.
 */
import type { MessageListItemDto } from '@mailyard/core/contracts';
import { personName } from './format';

export interface Conversation {
  threadId: number;
  /** The newest message, with unread/starred/hasAttachments of the whole conversation. */
  row: MessageListItemDto;
  /** Its messages in the list, newest first. */
  ids: number[];
  /** The senders, newest first, each once. */
  senders: string[];
}

/** Groups a newest-first list by thread; the conversations keep the order of their newest message. */
export function groupConversations(items: readonly MessageListItemDto[]): Conversation[] {
  const byThread = new Map<number, MessageListItemDto[]>();
  for (const message of items) {
    const members = byThread.get(message.threadId);
    if (members) members.push(message);
    else byThread.set(message.threadId, [message]);
  }
  return [...byThread.entries()].map(([threadId, members]) => {
    // Most threads in a folder have one message: its row is the message itself, with no copy to
    // make (the list is regrouped on every page loaded, so this is most of the work on a long list).
    if (members.length === 1) return { threadId, row: members[0]!, ids: [members[0]!.id], senders: [personName(members[0]!.from)] };
    const newest = members.reduce((a, b) => (b.date > a.date ? b : a));
    return {
      threadId,
      row: {
        ...newest,
        unread: members.some((m) => m.unread),
        starred: members.some((m) => m.starred),
        hasAttachments: members.some((m) => m.hasAttachments),
      },
      ids: [newest.id, ...members.filter((m) => m !== newest).map((m) => m.id)],
      senders: [...new Set([newest, ...members.filter((m) => m !== newest)].map((m) => personName(m.from)))],
    };
  });
}

/** Every message of the conversations whose rows are `rowIds` (ids without a conversation pass through). */
export function messageIdsOf(conversations: readonly Conversation[], rowIds: Iterable<number>): number[] {
  const byRow = new Map(conversations.map((c) => [c.row.id, c.ids]));
  return [...rowIds].flatMap((id) => byRow.get(id) ?? [id]);
}

/** The row a message is shown in, if it is in one. */
export function rowIdOf(conversations: readonly Conversation[], messageId: number): number | null {
  return conversations.find((c) => c.ids.includes(messageId))?.row.id ?? null;
}

const key = (userId: number) => `mailyard.conversations.${userId}`;

/** Conversations are on unless this user switched them off. */
export function groupsConversations(userId: number): boolean {
  return localStorage.getItem(key(userId)) !== 'off';
}

export function rememberGrouping(userId: number, on: boolean): void {
  if (on) localStorage.removeItem(key(userId));
  else localStorage.setItem(key(userId), 'off');
}
