import type { DbOrTx } from '../../db/client.js';
import { createMessageRepository, threadKeyOf } from '../../repositories/message.repository.js';
import type { MessageSummary } from '../parse.js';
import { isReplySubject } from '../threading.js';

/**
 * Conversations for messages a writer is about to add, decided for a whole batch (of any number
 * of users) with a fixed number of statements: one lookup of the Message-IDs involved that also
 * takes new thread ids, and one of the subjects of replies that none of those ties to a
 * conversation (only when there are such replies). A
 * message joins the thread that its own Message-ID, In-Reply-To or References already belong to
 * (for its user: in the store, or earlier in the batch); failing that, a reply joins the user's
 * newest conversation with the same normalized subject from the last 30 days; anything else starts
 * a new thread. Message-IDs already mapped keep their thread.
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
  /** (user, Message-ID) pairs to map onto their thread (those not mapped yet). */
  newKeys: Array<{ userId: number; key: string; threadId: number }>;
}

const looksLikeReply = (s: MessageSummary) => (isReplySubject(s.subject) || s.inReplyTo !== null || s.references.length > 0) && s.normalizedSubject !== '';

export async function assignThreads(db: DbOrTx, messages: ReadonlyArray<{ userId: number; summary: MessageSummary; internalDate: Date }>): Promise<ThreadAssignment> {
  const repo = createMessageRepository(db);
  const keysOf = messages.map((m) => threadKeys(m.summary));
  const pairs = new Map<string, { userId: number; key: string }>();
  messages.forEach((m, i) => keysOf[i]!.forEach((key) => pairs.set(threadKeyOf(m.userId, key), { userId: m.userId, key })));
  // As many new thread ids as messages: the most this batch can start.
  const { known, fresh } = await repo.threadsByKeys([...pairs.values()], messages.length);
  // The store's answer for every reply no stored Message-ID ties to a thread (the batch may still tie it).
  const bySubjectInStore = new Map<number, number | null>();
  const candidates = messages.flatMap((m, i) => (looksLikeReply(m.summary) && keysOf[i]!.every((k) => !known.has(threadKeyOf(m.userId, k))) ? [i] : []));
  const stored = await repo.threadsBySubjects(candidates.map((i) => ({ userId: messages[i]!.userId, normalizedSubject: messages[i]!.summary.normalizedSubject, since: sinceFor(messages[i]!.internalDate) })));
  candidates.forEach((i, n) => bySubjectInStore.set(i, stored[n]!));

  const bySubject = new Map<string, { threadId: number; date: Date }>();
  const newKeys: ThreadAssignment['newKeys'] = [];
  // Threads still to create are numbered -1, -2, … and swapped for real ids at the end.
  let placeholders = 0;
  const threadIds: number[] = [];
  for (const [i, { userId, summary, internalDate }] of messages.entries()) {
    const keys = keysOf[i]!;
    let threadId = keys.map((k) => known.get(threadKeyOf(userId, k))).find((t) => t !== undefined);
    const subjectKey = threadKeyOf(userId, summary.normalizedSubject);
    if (threadId === undefined && looksLikeReply(summary)) {
      const inBatch = bySubject.get(subjectKey);
      threadId = inBatch && inBatch.date > sinceFor(internalDate) ? inBatch.threadId : (bySubjectInStore.get(i) ?? undefined);
    }
    threadId ??= -++placeholders;
    for (const key of keys) {
      if (known.has(threadKeyOf(userId, key))) continue;
      known.set(threadKeyOf(userId, key), threadId);
      newKeys.push({ userId, key, threadId });
    }
    if (summary.normalizedSubject !== '') bySubject.set(subjectKey, { threadId, date: internalDate });
    threadIds.push(threadId);
  }
  if (placeholders === 0) return { threadIds, newKeys };
  const real = (id: number) => (id < 0 ? fresh[-id - 1]! : id);
  return { threadIds: threadIds.map(real), newKeys: newKeys.map((k) => ({ ...k, threadId: real(k.threadId) })) };
}

function sinceFor(internalDate: Date): Date {
  return new Date(internalDate.getTime() - SUBJECT_THREAD_WINDOW_MS);
}
