import type { DbOrTx } from '../../db/client.js';
import { createMessageRepository } from '../../repositories/message.repository.js';
import type { MessageSummary } from '../parse.js';
import { isReplySubject } from '../threading.js';

/**
 * Conversations for messages a writer is about to add, decided for a whole batch with one lookup
 * of the Message-IDs involved. A message joins the thread that its own Message-ID, In-Reply-To
 * or References already belong to (in the store, or earlier in the batch); failing that, a reply
 * joins the newest conversation with the same normalized subject from the last 30 days; anything
 * else starts a new thread. Message-IDs already mapped keep their thread.
 */

/** How far back a subject-only match may reach to join a conversation. */
const SUBJECT_THREAD_WINDOW_MS = 30 * 24 * 3600 * 1000;

/** Message-IDs that tie a message to its conversation: its own, In-Reply-To, and References (root + nearest 19). */
export function threadKeys(summary: MessageSummary): string[] {
  const refs = summary.references.length > 20 ? [summary.references[0]!, ...summary.references.slice(-19)] : summary.references;
  return [...new Set([...(summary.messageId ? [summary.messageId] : []), ...(summary.inReplyTo ? [summary.inReplyTo] : []), ...refs])];
}

export interface ThreadAssignment {
  /** One thread id per message, in input order. */
  threadIds: number[];
  /** Message-IDs to map onto their thread (those not mapped yet). */
  newKeys: Array<{ key: string; threadId: number }>;
}

export async function assignThreads(db: DbOrTx, userId: number, messages: ReadonlyArray<{ summary: MessageSummary; internalDate: Date }>): Promise<ThreadAssignment> {
  const repo = createMessageRepository(db);
  const keysOf = messages.map((m) => threadKeys(m.summary));
  const known = await repo.threadsByKeys(userId, [...new Set(keysOf.flat())]);
  const bySubject = new Map<string, { threadId: number; date: Date }>();
  const newKeys: Array<{ key: string; threadId: number }> = [];
  // Threads still to create are numbered -1, -2, … and swapped for real ids at the end.
  let placeholders = 0;
  const threadIds: number[] = [];
  for (const [i, { summary, internalDate }] of messages.entries()) {
    const keys = keysOf[i]!;
    let threadId = keys.map((k) => known.get(k)).find((t) => t !== undefined);
    const looksLikeReply = isReplySubject(summary.subject) || summary.inReplyTo !== null || summary.references.length > 0;
    if (threadId === undefined && looksLikeReply && summary.normalizedSubject !== '') {
      const since = new Date(internalDate.getTime() - SUBJECT_THREAD_WINDOW_MS);
      const inBatch = bySubject.get(summary.normalizedSubject);
      threadId = inBatch && inBatch.date > since ? inBatch.threadId : ((await repo.findThreadBySubject(userId, summary.normalizedSubject, since)) ?? undefined);
    }
    threadId ??= -++placeholders;
    for (const key of keys) {
      if (known.has(key)) continue;
      known.set(key, threadId);
      newKeys.push({ key, threadId });
    }
    if (summary.normalizedSubject !== '') bySubject.set(summary.normalizedSubject, { threadId, date: internalDate });
    threadIds.push(threadId);
  }
  if (placeholders > 0) {
    const fresh = await repo.newThreadIds(placeholders);
    const real = (id: number) => (id < 0 ? fresh[-id - 1]! : id);
    return { threadIds: threadIds.map(real), newKeys: newKeys.map((k) => ({ key: k.key, threadId: real(k.threadId) })) };
  }
  return { threadIds, newKeys };
}
