import type { UserEvent } from '../../contracts/events.js';
import type { Db, Tx } from '../../db/client.js';
import type { EventPublisher } from '../../events/publisher.js';
import type { Logger } from '../../log/logger.js';
import { createMailboxRepository, type MailboxRow } from '../../repositories/mailbox.repository.js';
import { storeFlags } from './flag-store.js';
import {
  MailboxWrite,
  type AppendInput,
  type AppendResult,
  type CopyResult,
  type DeletedMessage,
  type FlagChange,
  type FlaggedMessage,
  type MailboxTarget,
  type MailboxTransfer,
  type MoveResult,
  type OnlyFromOption,
} from './mailbox-write.js';

/**
 * The mailbox writer: the ONE way a mailbox changes (DESIGN.md, "One way to change a mailbox").
 * Ingest, the API's message and folder operations, drafts, sending, DSN filing and IMAP
 * APPEND/COPY/MOVE/STORE/EXPUNGE all come through here.
 *
 * - `writeMailboxes(deps, userIds, work)` runs `work` in a new transaction behind the users' locks
 *   and publishes its events after the commit.
 * - `openMailboxWrite(tx, userIds)` joins a caller's transaction (sending writes the Sent copy,
 *   the local recipients' copies and the outbound record in one): the caller calls `finish()`
 *   before its commit and `publishMailboxEvents(deps, write.events())` after it.
 * - The functions below are single operations, each its own transaction (a flag change is one
 *   statement: flag-store.ts).
 *
 * Events are hints: if publishing fails, the change log holds every change and live clients
 * (SSE, IMAP IDLE) catch up from it.
 */

export interface MailboxWriterDeps {
  db: Db;
  events: EventPublisher;
  log?: Logger;
  /**
   * Told, after the commit, which messages a write moved or copied between mailboxes (spam
   * learning: core/src/mail/spam/learn.ts). A failure is logged; the write stands.
   */
  afterTransfer?: (transfers: readonly MailboxTransfer[]) => Promise<void>;
}

export { EMPTYABLE, MailboxWrite } from './mailbox-write.js';
export type { AppendInput, AppendResult, CopiedMessage, CopyResult, DeletedMessage, FlagChange, FlaggedMessage, MailboxTarget, MailboxTransfer, MessageContent, MovedMessage, MoveResult, OnlyFromOption, QuotaOption } from './mailbox-write.js';
export { MAX_MAILBOX_NAME_LENGTH, normalizeFlag, SYSTEM_FLAGS, validateMailboxName } from './validation.js';

/** Locks `userIds` in the caller's transaction for a write (see above for finish and publish). */
export function openMailboxWrite(tx: Tx, userIds: readonly number[]): Promise<MailboxWrite> {
  return MailboxWrite.open(tx, userIds);
}

/**
 * Publishes a committed write's events, per user in order. All of them are sent at once: the
 * publisher sends in call order on one connection (Redis runs them in that order), so a user's
 * events arrive in order and take one round trip together, not one each (a group commit of 45
 * messages for one user waited for 46 in a row before the next could start). A failure is logged
 * per user; events are hints, the change log is the record.
 */
export async function publishMailboxEvents(deps: MailboxWriterDeps, events: ReadonlyArray<{ userId: number; event: UserEvent }>): Promise<void> {
  const sent = events.map(({ userId, event }) => {
    try {
      return deps.events.publish(userId, event);
    } catch (err) {
      return Promise.reject(err); // a publisher that throws before its promise: logged like the rest
    }
  });
  const outcomes = await Promise.allSettled(sent);
  const failedUsers = new Map<number, { type: string; err: string; count: number }>();
  outcomes.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') return;
    const { userId, event } = events[i]!;
    const seen = failedUsers.get(userId);
    if (seen) seen.count += 1;
    else failedUsers.set(userId, { type: event.type, err: (outcome.reason as Error).message, count: 1 });
  });
  for (const [userId, f] of failedUsers) deps.log?.warn({ event: 'mailbox.publish_failed', userId, type: f.type, failed: f.count, err: f.err });
}

/**
 * Runs `work` in one transaction behind the users' locks, then publishes what it changed.
 * `reserve`: how many modseqs each user's part will likely take (saves a statement; unused ones are given back).
 */
export async function writeMailboxes<T>(deps: MailboxWriterDeps, userIds: readonly number[], work: (write: MailboxWrite) => Promise<T>, reserve?: ReadonlyMap<number, number>): Promise<T> {
  const { value, events, transfers } = await deps.db.transaction().execute(async (tx) => {
    const write = await MailboxWrite.open(tx, userIds, reserve);
    const result = await work(write);
    await write.finish();
    return { value: result, events: write.events(), transfers: write.transfers() };
  });
  await publishMailboxEvents(deps, events);
  if (deps.afterTransfer && transfers.length > 0) {
    try {
      await deps.afterTransfer(transfers);
    } catch (err) {
      deps.log?.warn({ event: 'mailbox.after_transfer_failed', count: transfers.length, err: (err as Error).message });
    }
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Single operations

/** An AppendInput for a given user (the inbound worker and CLI-style callers). */
export interface IngestInput extends AppendInput {
  userId: number;
}
export type IngestResult = AppendResult;
export type IngestDeps = MailboxWriterDeps;
export type MessageOpsDeps = MailboxWriterDeps;

/** Files messages of ONE user in one transaction, in order. */
export async function ingestForUser(deps: MailboxWriterDeps, userId: number, inputs: IngestInput[]): Promise<AppendResult[]> {
  if (inputs.some((i) => i.userId !== userId)) throw new Error('ingestForUser: every input must be for the same user');
  return ingestMany(deps, inputs);
}

/**
 * Files messages of any number of users in ONE transaction (the inbound worker's group commit):
 * each user's messages in their order, with a fixed number of statements whatever the number of
 * users (MailboxWrite.appendMany; every user's modseqs reserved when the users are locked).
 * Results line up with `inputs`. `alsoInTransaction` runs last in the same transaction (the spool
 * filer marks its rows done there: filed and done in one commit).
 */
export async function ingestMany(deps: MailboxWriterDeps, inputs: readonly IngestInput[], alsoInTransaction?: (tx: Tx) => Promise<void>): Promise<AppendResult[]> {
  if (inputs.length === 0) return [];
  const byUser = new Map<number, number[]>();
  inputs.forEach((input, index) => byUser.set(input.userId, [...(byUser.get(input.userId) ?? []), index]));
  const parts = [...byUser].map(([userId, indexes]) => ({ userId, indexes, inputs: indexes.map((i) => inputs[i]!) }));
  return writeMailboxes(
    deps,
    [...byUser.keys()],
    async (w) => {
      const appended = await w.appendMany(parts);
      if (alsoInTransaction) await alsoInTransaction(w.tx);
      const results: AppendResult[] = [];
      parts.forEach((part, p) => part.indexes.forEach((i, n) => (results[i] = appended[p]![n]!)));
      return results;
    },
    new Map(parts.map((part) => [part.userId, part.inputs.length])),
  );
}

export async function ingestMessage(deps: MailboxWriterDeps, input: IngestInput): Promise<AppendResult> {
  const [result] = await ingestForUser(deps, input.userId, [input]);
  return result!;
}

/** Adds, removes or replaces flags of the user's messages in one statement (see flag-store.ts); returns every requested message, in id order. */
export function setFlags(deps: MailboxWriterDeps, userId: number, messageIds: readonly number[], change: FlagChange): Promise<FlaggedMessage[]> {
  return storeFlags(deps, userId, messageIds, change);
}

export function moveMessages(deps: MailboxWriterDeps, userId: number, messageIds: readonly number[], target: MailboxTarget, options: OnlyFromOption = {}): Promise<MoveResult> {
  return writeMailboxes(deps, [userId], (w) => w.move(userId, messageIds, target, options));
}

/** Copies are the user's own action: refused (413 'quota.exceeded') when they would not fit. */
export function copyMessages(deps: MailboxWriterDeps, userId: number, messageIds: readonly number[], target: MailboxTarget): Promise<CopyResult> {
  return writeMailboxes(deps, [userId], (w) => w.copy(userId, messageIds, target, { enforceQuota: true }));
}

/** Deletes the user's messages forever (their blobs stay until the reclaim sweep). */
export function deleteMessages(deps: MailboxWriterDeps, userId: number, messageIds: readonly number[], options: OnlyFromOption = {}): Promise<DeletedMessage[]> {
  return writeMailboxes(deps, [userId], (w) => w.remove(userId, messageIds, options));
}

export function expungeMessages(deps: MailboxWriterDeps, userId: number, mailboxId: number, uids?: readonly number[]): Promise<DeletedMessage[]> {
  return writeMailboxes(deps, [userId], (w) => w.expunge(userId, mailboxId, uids));
}

export function emptyMailbox(deps: MailboxWriterDeps, userId: number, mailboxId: number): Promise<DeletedMessage[]> {
  return writeMailboxes(deps, [userId], (w) => w.empty(userId, mailboxId));
}

export function createMailbox(deps: MailboxWriterDeps, userId: number, name: string): Promise<MailboxRow> {
  return writeMailboxes(deps, [userId], (w) => w.createMailbox(userId, name));
}

export function renameMailbox(deps: MailboxWriterDeps, userId: number, mailboxId: number, name: string): Promise<MailboxRow> {
  return writeMailboxes(deps, [userId], (w) => w.renameMailbox(userId, mailboxId, name));
}

export function deleteMailbox(deps: MailboxWriterDeps, userId: number, mailboxId: number): Promise<{ deletedMessages: number }> {
  return writeMailboxes(deps, [userId], (w) => w.deleteMailbox(userId, mailboxId));
}

export const TRASH_RETENTION_MS = 30 * 24 * 3600 * 1000;
const PURGE_BATCH = 1000;

/**
 * Deletes, for every user, the messages that have been in their Trash since before `olderThan`
 * (moved_at; default 30 days ago). One transaction per user and batch of 1000 messages, each
 * behind that user's lock, so it never holds up one user's mail for long.
 */
export async function purgeTrash(deps: MailboxWriterDeps, olderThan: Date = new Date(Date.now() - TRASH_RETENTION_MS)): Promise<{ users: number; messages: number }> {
  const trashes = await createMailboxRepository(deps.db).trashesWithMailBefore(olderThan);
  let messages = 0;
  for (const trash of trashes) {
    for (;;) {
      const deleted = await writeMailboxes(deps, [trash.userId], (w) => w.purgeFromTrash(trash.userId, trash.id, olderThan, PURGE_BATCH));
      messages += deleted.length;
      if (deleted.length < PURGE_BATCH) break;
    }
  }
  return { users: new Set(trashes.map((t) => t.userId)).size, messages };
}

