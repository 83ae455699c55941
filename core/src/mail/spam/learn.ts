import type { Db } from '../../db/client.js';
import type { SpecialUse } from '../../db/schema.js';
import type { Logger } from '../../log/logger.js';
import type { SpamLearnJob } from '../../queue/spam-learn.js';
import type { MailboxTransfer } from '../mailbox-writer/mailbox-write.js';
import { loadMessageBytes } from '../message-content.js';
import type { SpamEngine } from './engine.js';

/**
 * Learning from the user's moves (issue 11): a message the user puts into Junk teaches the spam
 * engine "spam"; one taken out of Junk into anything but Trash teaches "ham". Every move and
 * copy goes through the mailbox writer, which reports them after the commit (`afterTransfer`,
 * wired to `learnFromTransfers`): the API's move routes, not-spam, and IMAP MOVE and COPY alike.
 * Requests go to the `spam-learn` queue (one job per message, id `<kind>-<messageId>`); the
 * inbound worker runs `performLearn`, which loads the bytes through their owner and calls
 * `engine.learn`. Without an engine (no RSPAMD_URL) the queue is null and nothing is enqueued.
 */

export type LearnKind = 'spam' | 'ham';

export interface SpamLearnDeps {
  /** The `spam-learn` queue; null when no engine is configured. */
  queue: { enqueue(jobs: SpamLearnJob[]): Promise<void> } | null;
  log?: Logger;
}

/** What a move from `from` to `to` teaches, if anything. */
export function learnKindOf(from: SpecialUse | null, to: SpecialUse | null): LearnKind | null {
  if (from === to) return null;
  if (to === '\\Junk') return 'spam';
  if (from === '\\Junk' && to !== '\\Trash') return 'ham';
  return null;
}

/** Asks for the user's messages to be learned as `kind` (after the move has committed, never inside it). */
export async function requestLearn(deps: SpamLearnDeps, request: { userId: number; messageIds: readonly number[]; kind: LearnKind }): Promise<void> {
  if (!deps.queue || request.messageIds.length === 0) return;
  const ids = [...new Set(request.messageIds)];
  await deps.queue.enqueue(ids.map((messageId) => ({ userId: request.userId, messageId, kind: request.kind })));
  deps.log?.info({ event: 'spam.learn_requested', userId: request.userId, kind: request.kind, count: ids.length });
}

/** The mailbox writer's `afterTransfer` hook: the moves into and out of Junk become learn requests. */
export function learnFromTransfers(deps: SpamLearnDeps): ((transfers: readonly MailboxTransfer[]) => Promise<void>) | undefined {
  if (!deps.queue) return undefined;
  return async (transfers) => {
    const groups = new Map<string, { userId: number; kind: LearnKind; messageIds: number[] }>();
    for (const t of transfers) {
      const kind = learnKindOf(t.from, t.to);
      if (!kind) continue;
      const key = `${t.userId}:${kind}`;
      const group = groups.get(key) ?? { userId: t.userId, kind, messageIds: [] };
      group.messageIds.push(t.messageId);
      groups.set(key, group);
    }
    for (const group of groups.values()) await requestLearn(deps, group);
  };
}

export interface PerformLearnDeps {
  db: Db;
  engine: SpamEngine;
  log?: Logger;
}

/**
 * One `spam-learn` job: the message's bytes, owner-scoped, to the engine. A message deleted since
 * is skipped (`gone`); an engine failure throws (the queue retries, or stops on a permanent refusal).
 */
export async function performLearn(deps: PerformLearnDeps, job: SpamLearnJob): Promise<'learned' | 'gone'> {
  let raw: Buffer;
  try {
    raw = await loadMessageBytes(deps.db, job.userId, job.messageId);
  } catch (err) {
    if ((err as { code?: string }).code === 'message.not_found') return 'gone';
    throw err;
  }
  await deps.engine.learn(job.kind, raw);
  return 'learned';
}
