import type { UserEvent } from '../../contracts/events.js';
import { AppError } from '../../errors.js';
import { createMessageRepository } from '../../repositories/message.repository.js';
import type { FlagChange, FlaggedMessage } from './mailbox-write.js';
import { MAX_FLAGS_PER_MESSAGE, normalizeFlag, uniqueIds } from './validation.js';
import { publishMailboxEvents, type MailboxWriterDeps } from './index.js';

/**
 * The mailbox writer's flag change (IMAP STORE, the API's flags), the writer's busiest write:
 * ONE statement in autocommit (MessageRepository.storeFlags), so one round trip where a writer
 * transaction takes five (BEGIN, user lock, message lock, write, COMMIT). The statement keeps the
 * writers' order: the user's row lock first, then the messages, and one modseq per changed message
 * (in id order) taken under that lock, so its modseqs interleave with other writers' exactly as a
 * transaction's would. Messages whose flags end up the same are left alone (no modseq, no change
 * entry, no event); the events are published after the statement, which is its own commit.
 */
export async function storeFlags(deps: MailboxWriterDeps, userId: number, messageIds: readonly number[], change: FlagChange): Promise<FlaggedMessage[]> {
  const add = [...new Set((change.add ?? []).map(normalizeFlag))];
  const remove = [...new Set((change.remove ?? []).map(normalizeFlag))];
  const replace = change.replace ? [...new Set(change.replace.map(normalizeFlag))] : null;
  if (replace && (add.length > 0 || remove.length > 0)) throw new AppError('flags.invalid', 'replace cannot be combined with add or remove', 400);
  if (add.some((f) => remove.includes(f))) throw new AppError('flags.invalid', 'a flag cannot be both added and removed', 400);
  const ids = uniqueIds(messageIds);
  const rows = await createMessageRepository(deps.db).storeFlags(userId, ids, { add, remove, replace, unchangedSince: change.unchangedSince ?? null }, MAX_FLAGS_PER_MESSAGE);
  if (rows.length !== ids.length) throw new AppError('message.not_found', 'no such message', 404);
  const changed = rows.filter((r) => r.changed);
  if (changed.some((r) => r.flags.length > MAX_FLAGS_PER_MESSAGE)) throw new AppError('flags.too_many', `a message carries at most ${MAX_FLAGS_PER_MESSAGE} flags`, 400);
  if (changed.length > 0 && !changed.every((r) => r.written && r.counts)) throw new Error('storeFlags: a change was planned but not written');

  const events: Array<{ userId: number; event: UserEvent }> = changed.map((r) => ({ userId, event: { type: 'message.flags', modseq: r.modseq, mailboxId: r.mailboxId, messageId: r.id, uid: r.uid, flags: r.flags } }));
  const counts = new Map(changed.map((r) => [r.mailboxId, r.counts!]));
  for (const [mailboxId, c] of counts) events.push({ userId, event: { type: 'mailbox.counts', mailboxId, total: c.total, unread: c.unread } });
  await publishMailboxEvents(deps, events);
  return rows.map((r) => ({ id: r.id, mailboxId: r.mailboxId, uid: r.uid, modseq: r.modseq, flags: r.flags, changed: r.changed, ...(r.conflict ? { conflict: true } : {}) }));
}
