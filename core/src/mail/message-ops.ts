import { sql, type Insertable } from 'kysely';
import type { UserEvent } from '../contracts/events.js';
import type { Db, Tx } from '../db/client.js';
import type { ChangesTable, SpecialUse } from '../db/schema.js';
import { AppError, isUniqueViolation } from '../errors.js';
import { toChangeRow, type ChangeLogEvent } from '../events/change-log.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Logger } from '../log/logger.js';
import { createMailboxRepository, type MailboxRow } from '../repositories/mailbox.repository.js';
import { takeUserModseqs } from './user-lock.js';

/**
 * Message and mailbox operations, shared by the HTTP API and the IMAP server: flags, moves,
 * deletes, emptying Trash/Junk, the Trash purge, and custom folders.
 *
 * Every operation is ONE transaction that:
 *  1. locks the user row and takes the next modseq (`takeUserModseqs`, as ingest does) before
 *     touching any other row. All writers of one user's mail are thus serialized, so their
 *     message and mailbox row locks never interleave, and a writer that spans users (the Trash
 *     purge) holds one user's lock at a time: concurrent calls cannot deadlock;
 *  2. reads the target rows under that lock, scoped by `user_id` (another user's id is "not
 *     found", and nothing changes: a call is all or nothing);
 *  3. updates the rows and the mailbox counters (message_count, unseen_count, total_bytes,
 *     highestmodseq) incrementally, from the rows it changed;
 *  4. appends to the change log ONE entry PER CHANGED MESSAGE, each with its own modseq: a call
 *     that changes n messages takes n consecutive modseqs (so `changes` keeps its one-row-per-
 *     modseq key and IMAP CONDSTORE sees a per-message MODSEQ). A call that changes nothing
 *     gives its modseq back and leaves no trace.
 * After the commit it publishes the matching events (message.flags / message.moved /
 * message.deleted, then mailbox.counts per affected mailbox). Events are hints: if publishing
 * fails, the change log still holds every change and clients catch up from it.
 *
 * Deleting a message removes its row only: the raw bytes in `blobs` are content-addressed and
 * may be shared (other recipients, the spool); reclaiming unreferenced blobs is a separate sweep.
 */

export interface MessageOpsDeps {
  db: Db;
  events: EventPublisher;
  log?: Logger;
}

/** IMAP system flags a client may set (\Recent is session state, never stored). */
export const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'] as const;
const MAX_FLAG_LENGTH = 100;
const MAX_FLAGS_PER_MESSAGE = 100;
/** Rows per multi-row statement: keeps every statement far below PostgreSQL's 65535 parameters. */
const CHUNK = 1000;
export const TRASH_RETENTION_MS = 30 * 24 * 3600 * 1000;
export const MAX_MAILBOX_NAME_LENGTH = 200;

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * A flag as stored: system flags in their canonical case (IMAP system flags are case-insensitive),
 * keywords as IMAP atoms (printable ASCII without atom-specials).
 */
export function normalizeFlag(flag: string): string {
  if (flag.startsWith('\\')) {
    const system = SYSTEM_FLAGS.find((f) => f.toLowerCase() === flag.toLowerCase());
    if (!system) throw new AppError('flags.invalid', `${JSON.stringify(flag.slice(0, 50))} is not a flag that can be stored`, 400);
    return system;
  }
  if (flag.length === 0 || flag.length > MAX_FLAG_LENGTH || !/^[\x21-\x7e]+$/.test(flag) || /[(){%*"\\\]]/.test(flag)) {
    throw new AppError('flags.invalid', `${JSON.stringify(flag.slice(0, 50))} is not a valid keyword`, 400);
  }
  return flag;
}

/**
 * A custom folder's name: trimmed, non-empty, at most 200 characters, no control characters,
 * none of IMAP's LIST wildcards (* %), and not INBOX (in any case: IMAP reserves it).
 */
export function validateMailboxName(input: string): string {
  const name = input.trim();
  if (name.length === 0) throw new AppError('mailbox.name_invalid', 'a folder name cannot be empty', 400);
  if ([...name].length > MAX_MAILBOX_NAME_LENGTH) throw new AppError('mailbox.name_invalid', `a folder name has at most ${MAX_MAILBOX_NAME_LENGTH} characters`, 400);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) throw new AppError('mailbox.name_invalid', 'a folder name cannot contain control characters', 400);
  if (/[*%]/.test(name)) throw new AppError('mailbox.name_invalid', 'a folder name cannot contain * or %', 400);
  if (name.toUpperCase() === 'INBOX') throw new AppError('mailbox.exists', 'INBOX already exists', 409);
  return name;
}

function uniqueIds(ids: readonly number[]): number[] {
  for (const id of ids) if (!Number.isSafeInteger(id) || id <= 0) throw new AppError('message.not_found', 'no such message', 404);
  return [...new Set(ids)].sort((a, b) => a - b);
}

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Transaction plumbing

/**
 * The modseqs of one transaction. The first came with the user lock; more are taken, consecutive,
 * as the operation learns how many changes it makes. If none was used, `finish` gives it back.
 */
class ModseqClock {
  private nextFree: number;
  private reserved: number;
  private constructor(
    private readonly tx: Tx,
    private readonly userId: number,
    first: number,
  ) {
    this.nextFree = first;
    this.reserved = first;
  }

  static async lock(tx: Tx, userId: number): Promise<ModseqClock> {
    return new ModseqClock(tx, userId, await takeUserModseqs(tx, userId));
  }

  /** `n` consecutive modseqs; returns the first. */
  async take(n: number): Promise<number> {
    const last = this.nextFree + n - 1;
    if (last > this.reserved) {
      const first = await takeUserModseqs(this.tx, this.userId, last - this.reserved);
      if (first !== this.reserved + 1) throw new Error('user modseq moved while its row was locked');
      this.reserved = last;
    }
    const start = this.nextFree;
    this.nextFree += n;
    return start;
  }

  async finish(): Promise<void> {
    if (this.nextFree - 1 < this.reserved) {
      await this.tx.updateTable('users').set({ modseq: this.nextFree - 1 }).where('id', '=', this.userId).execute();
    }
  }
}

interface Outcome<T> {
  value: T;
  events: UserEvent[];
}

async function publishAll(deps: MessageOpsDeps, userId: number, events: UserEvent[]): Promise<void> {
  for (const event of events) {
    try {
      await deps.events.publish(userId, event);
    } catch (err) {
      // The change log holds every change; live clients catch up from it on reconnect.
      deps.log?.warn({ event: 'message_ops.publish_failed', userId, type: event.type, err: (err as Error).message });
      return;
    }
  }
}

/** Runs `work` in one transaction behind the user lock, then publishes its events. */
async function inUserTransaction<T>(deps: MessageOpsDeps, userId: number, work: (tx: Tx, clock: ModseqClock) => Promise<Outcome<T>>): Promise<T> {
  const { value, events } = await deps.db.transaction().execute(async (tx) => {
    const clock = await ModseqClock.lock(tx, userId);
    const outcome = await work(tx, clock);
    await clock.finish();
    return outcome;
  });
  await publishAll(deps, userId, events);
  return value;
}

interface LockedMessage {
  id: number;
  mailbox_id: number;
  uid: number;
  modseq: number;
  size: number;
  flags: string[];
  special_use: SpecialUse | null;
}

/** Locks the user's messages with these ids (in id order). Any id not theirs: 404, nothing changes. */
async function lockMessages(tx: Tx, userId: number, ids: number[]): Promise<LockedMessage[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<LockedMessage>`
    SELECT m.id, m.mailbox_id, m.uid, m.modseq, m.size, m.flags, b.special_use
    FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id
    WHERE m.user_id = ${userId} AND m.id = ANY(${ids}::bigint[])
    ORDER BY m.id
    FOR UPDATE OF m`.execute(tx);
  if (rows.length !== ids.length) throw new AppError('message.not_found', 'no such message', 404);
  return rows;
}

interface MailboxTarget {
  id: number;
  name: string;
  uidvalidity: number;
  special_use: SpecialUse | null;
}

async function lockMailbox(tx: Tx, userId: number, target: number | { specialUse: SpecialUse }): Promise<MailboxTarget> {
  let query = tx.selectFrom('mailboxes').select(['id', 'name', 'uidvalidity', 'special_use']).where('user_id', '=', userId);
  query = typeof target === 'number' ? query.where('id', '=', target) : query.where('special_use', '=', target.specialUse);
  const row = await query.forUpdate().executeTakeFirst();
  if (!row) throw new AppError('mailbox.not_found', 'no such mailbox', 404);
  return row;
}

interface MailboxDelta {
  count: number;
  unseen: number;
  bytes: number;
  highestmodseq: number;
  /** UIDs to allocate (messages moving in). */
  uids: number;
}

/**
 * Applies counter deltas to the user's mailboxes in id order. Returns each mailbox's counts after
 * the change (for mailbox.counts events) and, where UIDs were allocated, the first one.
 */
async function applyMailboxDeltas(tx: Tx, userId: number, deltas: Map<number, MailboxDelta>) {
  const out = new Map<number, { total: number; unread: number; firstUid: number }>();
  for (const [id, d] of [...deltas.entries()].sort(([a], [b]) => a - b)) {
    const row = await tx
      .updateTable('mailboxes')
      .set({
        uidnext: sql`uidnext + ${d.uids}`,
        message_count: sql`message_count + ${d.count}`,
        unseen_count: sql`unseen_count + ${d.unseen}`,
        total_bytes: sql`total_bytes + ${d.bytes}`,
        highestmodseq: sql`GREATEST(highestmodseq, ${d.highestmodseq})`,
      })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .returning(['message_count', 'unseen_count', sql<number>`uidnext - ${d.uids}`.as('first_uid')])
      .executeTakeFirst();
    if (!row) throw new Error(`mailbox ${id} vanished under the user lock`);
    out.set(id, { total: row.message_count, unread: row.unseen_count, firstUid: row.first_uid });
  }
  return out;
}

function addDelta(deltas: Map<number, MailboxDelta>, mailboxId: number, change: Partial<MailboxDelta>): void {
  const d = deltas.get(mailboxId) ?? { count: 0, unseen: 0, bytes: 0, highestmodseq: 0, uids: 0 };
  d.count += change.count ?? 0;
  d.unseen += change.unseen ?? 0;
  d.bytes += change.bytes ?? 0;
  d.uids += change.uids ?? 0;
  d.highestmodseq = Math.max(d.highestmodseq, change.highestmodseq ?? 0);
  deltas.set(mailboxId, d);
}

/** Change-log rows: message events go in exactly as `toChangeRow` lays them out (SSE replays them). */
async function appendChanges(tx: Tx, rows: Insertable<ChangesTable>[]): Promise<void> {
  for (const part of chunks(rows)) await tx.insertInto('changes').values(part).execute();
}

async function logEvents(tx: Tx, userId: number, events: ChangeLogEvent[]): Promise<void> {
  await appendChanges(tx, events.map((e) => toChangeRow(userId, e)));
}


function countEvents(counts: Map<number, { total: number; unread: number }>, skip?: number): UserEvent[] {
  return [...counts.entries()].filter(([id]) => id !== skip).map(([mailboxId, c]) => ({ type: 'mailbox.counts', mailboxId, total: c.total, unread: c.unread }));
}

const isUnseen = (flags: readonly string[]) => !flags.includes('\\Seen');

interface RemovedRow {
  id: number;
  mailbox_id: number;
  uid: number;
  size: number;
  flags: string[];
}

/** Bookkeeping for rows already deleted in this transaction: modseqs, counters, change log, events. */
async function recordRemoval(tx: Tx, clock: ModseqClock, userId: number, removed: RemovedRow[]) {
  const rows = [...removed].sort((a, b) => a.mailbox_id - b.mailbox_id || a.uid - b.uid);
  if (rows.length === 0) return { deleted: [] as DeletedMessage[], events: [] as ChangeLogEvent[], counts: new Map<number, { total: number; unread: number }>() };
  const first = await clock.take(rows.length);
  const deltas = new Map<number, MailboxDelta>();
  const deleted: DeletedMessage[] = rows.map((r, i) => {
    const modseq = first + i;
    addDelta(deltas, r.mailbox_id, { count: -1, unseen: isUnseen(r.flags) ? -1 : 0, bytes: -r.size, highestmodseq: modseq });
    return { id: r.id, mailboxId: r.mailbox_id, uid: r.uid, modseq };
  });
  const counts = await applyMailboxDeltas(tx, userId, deltas);
  const events: ChangeLogEvent[] = deleted.map((d) => ({ type: 'message.deleted', modseq: d.modseq, mailboxId: d.mailboxId, messageId: d.id, uid: d.uid }));
  await logEvents(tx, userId, events);
  return { deleted, events, counts };
}

// ---------------------------------------------------------------------------------------------
// Messages

export interface FlagChange {
  add?: readonly string[];
  remove?: readonly string[];
  /** Replace all flags (IMAP STORE FLAGS); not combined with add/remove. */
  replace?: readonly string[];
}

export interface FlaggedMessage {
  id: number;
  mailboxId: number;
  uid: number;
  /** The message's modseq after the call (unchanged messages keep theirs). */
  modseq: number;
  flags: string[];
  changed: boolean;
}

/**
 * Adds and removes flags on the user's messages. Messages whose flags end up the same are left
 * alone (no modseq, no change entry, no event). Returns every requested message, in id order.
 */
export async function setFlags(deps: MessageOpsDeps, userId: number, messageIds: readonly number[], change: FlagChange): Promise<FlaggedMessage[]> {
  const add = [...new Set((change.add ?? []).map(normalizeFlag))];
  const remove = new Set((change.remove ?? []).map(normalizeFlag));
  const replace = change.replace ? [...new Set(change.replace.map(normalizeFlag))] : null;
  if (replace && (add.length > 0 || remove.size > 0)) throw new AppError('flags.invalid', 'replace cannot be combined with add or remove', 400);
  if (add.some((f) => remove.has(f))) throw new AppError('flags.invalid', 'a flag cannot be both added and removed', 400);
  const ids = uniqueIds(messageIds);

  return inUserTransaction(deps, userId, async (tx, clock) => {
    const rows = await lockMessages(tx, userId, ids);
    const next = rows.map((r) => {
      const flags = replace ?? [...r.flags.filter((f) => !remove.has(f)), ...add.filter((f) => !r.flags.includes(f))];
      const same = flags.length === r.flags.length && flags.every((f) => r.flags.includes(f));
      return { row: r, flags: same ? r.flags : flags, changed: !same };
    });
    const changed = next.filter((n) => n.changed);
    if (changed.some((n) => n.flags.length > MAX_FLAGS_PER_MESSAGE)) throw new AppError('flags.too_many', `a message carries at most ${MAX_FLAGS_PER_MESSAGE} flags`, 400);

    const modseqOf = new Map(rows.map((r) => [r.id, r.modseq]));
    const first = changed.length > 0 ? await clock.take(changed.length) : 0;
    const deltas = new Map<number, MailboxDelta>();
    changed.forEach((n, i) => {
      const modseq = first + i;
      modseqOf.set(n.row.id, modseq);
      addDelta(deltas, n.row.mailbox_id, { unseen: (isUnseen(n.flags) ? 1 : 0) - (isUnseen(n.row.flags) ? 1 : 0), highestmodseq: modseq });
    });

    for (const part of chunks(changed)) {
      const values = sql.join(part.map((n) => sql`(${n.row.id}::bigint, ${modseqOf.get(n.row.id)!}::bigint, ${n.flags}::text[])`));
      await sql`UPDATE messages AS m SET flags = v.flags, modseq = v.modseq FROM (VALUES ${values}) AS v(id, modseq, flags) WHERE m.id = v.id AND m.user_id = ${userId}`.execute(tx);
    }
    const counts = await applyMailboxDeltas(tx, userId, deltas);
    const events: ChangeLogEvent[] = changed.map((n) => ({ type: 'message.flags', modseq: modseqOf.get(n.row.id)!, mailboxId: n.row.mailbox_id, messageId: n.row.id, uid: n.row.uid, flags: n.flags }));
    await logEvents(tx, userId, events);
    const value = next.map((n) => ({ id: n.row.id, mailboxId: n.row.mailbox_id, uid: n.row.uid, modseq: modseqOf.get(n.row.id)!, flags: n.flags, changed: n.changed }));
    return { value, events: [...events, ...countEvents(counts)] };
  });
}

export interface MovedMessage {
  id: number;
  fromMailboxId: number;
  fromUid: number;
  mailboxId: number;
  uid: number;
  modseq: number;
  flags: string[];
}

export interface MoveResult {
  target: { id: number; uidvalidity: number };
  /** Messages that changed mailbox, in the order their new UIDs were given (source mailbox, then source UID). */
  moved: MovedMessage[];
  /** Messages that already were in the target (left alone). */
  unchanged: Array<{ id: number; uid: number; flags: string[] }>;
}

export interface MoveOptions {
  /** Only move messages that are in a mailbox with one of these special uses (else 409 'message.not_in_trash'). */
  onlyFrom?: readonly SpecialUse[];
}

/**
 * Moves the user's messages into a mailbox (by id, or by special use). Each row keeps its id and
 * flags, gets a new UID from the target's uidnext (above every UID the target ever gave out) and
 * moved_at = now(); source counters go down, the target's up.
 */
export async function moveMessages(
  deps: MessageOpsDeps,
  userId: number,
  messageIds: readonly number[],
  target: number | { specialUse: SpecialUse },
  options: MoveOptions = {},
): Promise<MoveResult> {
  const ids = uniqueIds(messageIds);
  return inUserTransaction(deps, userId, async (tx, clock) => {
    const rows = await lockMessages(tx, userId, ids);
    const mailbox = await lockMailbox(tx, userId, target);
    if (options.onlyFrom && rows.some((r) => !r.special_use || !options.onlyFrom!.includes(r.special_use))) {
      throw new AppError('message.not_in_trash', `only messages in ${options.onlyFrom.join(' or ')} can be moved this way`, 409);
    }
    const moving = rows.filter((r) => r.mailbox_id !== mailbox.id).sort((a, b) => a.mailbox_id - b.mailbox_id || a.uid - b.uid);
    const unchanged = rows.filter((r) => r.mailbox_id === mailbox.id).map((r) => ({ id: r.id, uid: r.uid, flags: r.flags }));
    const result: MoveResult = { target: { id: mailbox.id, uidvalidity: mailbox.uidvalidity }, moved: [], unchanged };
    if (moving.length === 0) return { value: result, events: [] };

    const first = await clock.take(moving.length);
    const last = first + moving.length - 1;
    const deltas = new Map<number, MailboxDelta>();
    moving.forEach((r, i) => addDelta(deltas, r.mailbox_id, { count: -1, unseen: isUnseen(r.flags) ? -1 : 0, bytes: -r.size, highestmodseq: first + i }));
    addDelta(deltas, mailbox.id, {
      count: moving.length,
      unseen: moving.filter((r) => isUnseen(r.flags)).length,
      bytes: moving.reduce((sum, r) => sum + r.size, 0),
      highestmodseq: last,
      uids: moving.length,
    });
    const counts = await applyMailboxDeltas(tx, userId, deltas);
    const firstUid = counts.get(mailbox.id)!.firstUid;

    result.moved = moving.map((r, i) => ({ id: r.id, fromMailboxId: r.mailbox_id, fromUid: r.uid, mailboxId: mailbox.id, uid: firstUid + i, modseq: first + i, flags: r.flags }));
    await sql`
      UPDATE messages AS m SET mailbox_id = ${mailbox.id}, uid = v.uid, modseq = v.modseq, moved_at = now()
      FROM unnest(${result.moved.map((m) => m.id)}::bigint[], ${result.moved.map((m) => m.uid)}::bigint[], ${result.moved.map((m) => m.modseq)}::bigint[]) AS v(id, uid, modseq)
      WHERE m.id = v.id AND m.user_id = ${userId}`.execute(tx);
    const events: ChangeLogEvent[] = result.moved.map((m) => ({ type: 'message.moved', modseq: m.modseq, messageId: m.id, fromMailboxId: m.fromMailboxId, fromUid: m.fromUid, mailboxId: m.mailboxId, uid: m.uid }));
    await logEvents(tx, userId, events);
    return { value: result, events: [...events, ...countEvents(counts)] };
  });
}

export interface DeletedMessage {
  id: number;
  mailboxId: number;
  uid: number;
  modseq: number;
}

export interface DeleteOptions {
  /** Only delete messages in a mailbox with one of these special uses (else 409 'message.not_in_trash'). */
  onlyFrom?: readonly SpecialUse[];
}

/** Deletes the user's messages forever (their blobs stay: see the note at the top). */
export async function deleteMessages(deps: MessageOpsDeps, userId: number, messageIds: readonly number[], options: DeleteOptions = {}): Promise<DeletedMessage[]> {
  const ids = uniqueIds(messageIds);
  return inUserTransaction(deps, userId, async (tx, clock) => {
    const rows = await lockMessages(tx, userId, ids);
    if (options.onlyFrom && rows.some((r) => !r.special_use || !options.onlyFrom!.includes(r.special_use))) {
      throw new AppError('message.not_in_trash', `only messages in ${options.onlyFrom.join(' or ')} can be deleted forever`, 409);
    }
    if (rows.length === 0) return { value: [], events: [] };
    const removed = await tx
      .deleteFrom('messages')
      .where('user_id', '=', userId)
      .where('id', '=', sql<number>`ANY(${ids}::bigint[])`)
      .returning(['id', 'mailbox_id', 'uid', 'size', 'flags'])
      .execute();
    const { deleted, events, counts } = await recordRemoval(tx, clock, userId, removed);
    return { value: deleted, events: [...events, ...countEvents(counts)] };
  });
}

/** Mailboxes whose messages may be deleted forever in bulk. */
export const EMPTYABLE: readonly SpecialUse[] = ['\\Trash', '\\Junk'];

/** Deletes every message in the user's Trash or Junk (409 'mailbox.not_emptyable' for any other folder). */
export async function emptyMailbox(deps: MessageOpsDeps, userId: number, mailboxId: number): Promise<DeletedMessage[]> {
  return inUserTransaction(deps, userId, async (tx, clock) => {
    const mailbox = await lockMailbox(tx, userId, mailboxId);
    if (!mailbox.special_use || !EMPTYABLE.includes(mailbox.special_use)) throw new AppError('mailbox.not_emptyable', 'only Trash and Junk can be emptied', 409);
    const removed = await tx.deleteFrom('messages').where('user_id', '=', userId).where('mailbox_id', '=', mailbox.id).returning(['id', 'mailbox_id', 'uid', 'size', 'flags']).execute();
    const { deleted, events, counts } = await recordRemoval(tx, clock, userId, removed);
    return { value: deleted, events: [...events, ...countEvents(counts)] };
  });
}

/**
 * Deletes, for every user, the messages that have been in their Trash since before `olderThan`
 * (moved_at; default 30 days ago). One transaction per user and batch of 1000 messages, each
 * behind that user's lock, so it never holds up one user's mail for long.
 */
export async function purgeTrash(deps: MessageOpsDeps, olderThan: Date = new Date(Date.now() - TRASH_RETENTION_MS)): Promise<{ users: number; messages: number }> {
  const { rows: trashes } = await sql<{ id: number; user_id: number }>`
    SELECT b.id, b.user_id FROM mailboxes b
    WHERE b.special_use = ${'\\Trash'}
      AND EXISTS (SELECT 1 FROM messages m WHERE m.mailbox_id = b.id AND m.moved_at < ${olderThan})
    ORDER BY b.user_id`.execute(deps.db);
  let messages = 0;
  for (const trash of trashes) {
    for (;;) {
      const deleted = await inUserTransaction(deps, trash.user_id, async (tx, clock) => {
        const removed = await tx
          .deleteFrom('messages')
          .where('user_id', '=', trash.user_id)
          .where('mailbox_id', '=', trash.id)
          .where('id', 'in', (eb) =>
            eb.selectFrom('messages').select('id').where('user_id', '=', trash.user_id).where('mailbox_id', '=', trash.id).where('moved_at', '<', olderThan).orderBy('id').limit(CHUNK),
          )
          .returning(['id', 'mailbox_id', 'uid', 'size', 'flags'])
          .execute();
        const r = await recordRemoval(tx, clock, trash.user_id, removed);
        return { value: r.deleted.length, events: [...r.events, ...countEvents(r.counts)] };
      });
      messages += deleted;
      if (deleted < CHUNK) break;
    }
  }
  return { users: new Set(trashes.map((t) => t.user_id)).size, messages };
}

/** Runs `purgeTrash` now and then every `intervalMs` until stopped. */
export function startTrashPurge(deps: MessageOpsDeps & { log: Logger; intervalMs: number; retentionMs?: number }): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  let stopped = false;
  const run = () => {
    if (running || stopped) return;
    running = (async () => {
      try {
        const result = await purgeTrash(deps, new Date(Date.now() - (deps.retentionMs ?? TRASH_RETENTION_MS)));
        if (result.messages > 0) deps.log.info({ event: 'trash.purged', ...result });
      } catch (err) {
        deps.log.warn({ event: 'trash.purge_failed', err: (err as Error).message });
      } finally {
        running = null;
      }
    })();
  };
  const timer = setInterval(run, deps.intervalMs);
  timer.unref();
  run();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Mailboxes

function protectedError(): AppError {
  return new AppError('mailbox.protected', 'system folders cannot be renamed or deleted', 403);
}

async function assertNameFree(tx: Tx, userId: number, name: string): Promise<void> {
  const taken = await tx.selectFrom('mailboxes').select('id').where('user_id', '=', userId).where('name', '=', name).executeTakeFirst();
  if (taken) throw new AppError('mailbox.exists', `a folder named ${JSON.stringify(name)} already exists`, 409);
}

async function translateUnique<T>(run: () => Promise<T>, name: string): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError('mailbox.exists', `a folder named ${JSON.stringify(name)} already exists`, 409);
    throw err;
  }
}

/**
 * A new custom folder. Its UIDVALIDITY is above every one this user has (or had under this name),
 * so an IMAP client that cached a deleted folder of the same name cannot mistake the new one for it.
 */
export async function createMailbox(deps: MessageOpsDeps, userId: number, name: string): Promise<MailboxRow> {
  const clean = validateMailboxName(name);
  return translateUnique(
    () =>
      inUserTransaction(deps, userId, async (tx, clock) => {
        await assertNameFree(tx, userId, clean);
        const { rows } = await sql<{ v: number }>`
          SELECT GREATEST(
            extract(epoch FROM now())::bigint,
            COALESCE((SELECT max(uidvalidity) FROM mailboxes WHERE user_id = ${userId}), 0) + 1,
            COALESCE((SELECT max((payload->>'uidvalidity')::bigint) FROM changes WHERE user_id = ${userId} AND kind = 'mailbox.deleted' AND payload->>'name' = ${clean}), 0) + 1
          ) AS v`.execute(tx);
        const inserted = await tx.insertInto('mailboxes').values({ user_id: userId, name: clean, special_use: null, uidvalidity: rows[0]!.v }).returning('id').executeTakeFirstOrThrow();
        const event: UserEvent = { type: 'mailbox.created', modseq: await clock.take(1), mailboxId: inserted.id, name: clean, uidvalidity: rows[0]!.v };
        await appendChanges(tx, [toChangeRow(userId, event)]);
        const mailbox = await createMailboxRepository(tx).get(userId, inserted.id);
        return { value: mailbox!, events: [event] };
      }),
    clean,
  );
}

export async function renameMailbox(deps: MessageOpsDeps, userId: number, mailboxId: number, name: string): Promise<MailboxRow> {
  const clean = validateMailboxName(name);
  return translateUnique(
    () =>
      inUserTransaction(deps, userId, async (tx, clock) => {
        const mailbox = await lockMailbox(tx, userId, mailboxId);
        if (mailbox.special_use) throw protectedError();
        const events: UserEvent[] = [];
        if (mailbox.name !== clean) {
          await assertNameFree(tx, userId, clean);
          await tx.updateTable('mailboxes').set({ name: clean }).where('id', '=', mailbox.id).where('user_id', '=', userId).execute();
          const event: UserEvent = { type: 'mailbox.renamed', modseq: await clock.take(1), mailboxId: mailbox.id, name: clean, from: mailbox.name };
          await appendChanges(tx, [toChangeRow(userId, event)]);
          events.push(event);
        }
        const row = await createMailboxRepository(tx).get(userId, mailbox.id);
        return { value: row!, events };
      }),
    clean,
  );
}

/** Deletes a custom folder and its messages (one message.deleted change each, then mailbox.deleted). */
export async function deleteMailbox(deps: MessageOpsDeps, userId: number, mailboxId: number): Promise<{ deletedMessages: number }> {
  return inUserTransaction(deps, userId, async (tx, clock) => {
    const mailbox = await lockMailbox(tx, userId, mailboxId);
    if (mailbox.special_use) throw protectedError();
    const removed = await tx.deleteFrom('messages').where('user_id', '=', userId).where('mailbox_id', '=', mailbox.id).returning(['id', 'mailbox_id', 'uid', 'size', 'flags']).execute();
    const { deleted, events } = await recordRemoval(tx, clock, userId, removed);
    await tx.deleteFrom('mailboxes').where('id', '=', mailbox.id).where('user_id', '=', userId).execute();
    const event: UserEvent = { type: 'mailbox.deleted', modseq: await clock.take(1), mailboxId: mailbox.id, name: mailbox.name, uidvalidity: mailbox.uidvalidity };
    await appendChanges(tx, [toChangeRow(userId, event)]);
    return { value: { deletedMessages: deleted.length }, events: [...events, event] };
  });
}
