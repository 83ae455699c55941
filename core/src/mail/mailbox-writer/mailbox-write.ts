import type { UserEvent } from '../../contracts/events.js';
import type { Tx } from '../../db/client.js';
import type { AuthenticationJson, FilterDecisionJson, SpecialUse } from '../../db/schema.js';
import { AppError, isUniqueViolation } from '../../errors.js';
import { toChangeRow, type ChangeLogEvent } from '../../events/change-log.js';
import { blobHash } from '../../repositories/blob.repository.js';
import { createContactRepository } from '../../repositories/contact.repository.js';
import { createMailboxRepository, type MailboxCounts, type MailboxDelta, type MailboxRow } from '../../repositories/mailbox.repository.js';
import { createMessageRepository, filingKeyOf, type RemovalFilter, type RemovedMessage, type StoredFlags } from '../../repositories/message.repository.js';
import { createModseqRepository } from '../../repositories/modseq.repository.js';
import { addressText, type MessageSummary } from '../parse.js';
import { hasRoom, QuotaExceededError } from '../quota.js';
import { ModseqClock } from './modseq-clock.js';
import { assignThreads } from './threading.js';
import { normalizeFlags, uniqueIds, validateMailboxName } from './validation.js';

/**
 * MailboxWrite: every change to a mailbox, inside ONE transaction. It is the only code that
 * writes `messages`, `mailboxes` counters, `changes` and `users.modseq` (through repositories),
 * with one exception under the same rules: a flag change is one statement (flag-store.ts).
 *
 * `open` locks the users it will write for, in id order, and takes a first modseq for each (see
 * ModseqClock). Each operation then reads its rows under those locks, scoped by user_id (another
 * user's id is "not found" and the whole transaction is rolled back: a call is all or nothing),
 * allocates UIDs from the mailboxes' uidnext and one modseq PER CHANGED MESSAGE (so `changes`
 * keeps one row per modseq and IMAP CONDSTORE sees a per-message MODSEQ), updates counters
 * incrementally, and appends to the change log. `finish` gives back unused modseqs; `events`
 * are what to publish once the transaction has committed (see index.ts).
 *
 * The user's quota usage (`users.used_bytes`, see core/src/mail/quota.ts) moves with the byte
 * counters, in `applyDeltas`. `append` and `copy` refuse (413 'quota.exceeded') what would not
 * fit when asked to (`enforceQuota`: a user's own action); filing accepted mail never is.
 *
 * Deleting a message removes its row only: the bytes in `blobs` are content-addressed and may be
 * shared (other recipients, copies, the spool); reclaiming unreferenced blobs is a separate sweep.
 */

export type MessageContent = { raw: Buffer } | { blobHash: Buffer; size: number };
export type MailboxTarget = number | { specialUse: SpecialUse };

export interface AppendInput {
  /** A mailbox id of the user's, or their mailbox with this special use. */
  mailbox: { specialUse: SpecialUse } | { id: number };
  content: MessageContent;
  summary: MessageSummary;
  flags?: readonly string[];
  internalDate?: Date;
  /** The zone `internalDate` was given in, minutes east of UTC (IMAP APPEND's date-time); 0 when absent. */
  internalDateZone?: number;
  /** Lines put before the stored bytes (Received:), kept apart from the shared blob. */
  traceHeaders?: string;
  /** The accepted SMTP transaction it comes from: filing the same one twice returns the first filing. */
  spoolId?: number;
  /** SPF/DKIM/DMARC/ARC as the MX checked them (mail received on the MX only). */
  authentication?: AuthenticationJson | null;
  /** The spam filter's decision for this user (mail received on the MX only). */
  filter?: FilterDecisionJson | null;
}

export interface AppendResult {
  messageId: number;
  mailboxId: number;
  uid: number;
  modseq: number;
  threadId: number;
  /** Filed before (same spool row): nothing was written. Zeros when the owner has deleted it since. */
  duplicate: boolean;
  /** What this write stored (absent for a duplicate): an IMAP session shows its own APPEND without reading it back. */
  stored?: { flags: string[]; internalDate: Date; internalDateZone: number; size: number; sentDate: Date | null };
}

export interface FlagChange {
  add?: readonly string[];
  remove?: readonly string[];
  /** Replace all flags (IMAP STORE FLAGS); not combined with add/remove. */
  replace?: readonly string[];
  /** IMAP UNCHANGEDSINCE: messages whose modseq is above this are left alone and reported as `conflict`. */
  unchangedSince?: number;
}

/** A message after a flag change: its modseq and flags after the call (unchanged messages keep theirs). */
export type FlaggedMessage = Pick<StoredFlags, 'id' | 'mailboxId' | 'uid' | 'modseq' | 'flags' | 'changed'> & {
  /** Left alone because its modseq was above `unchangedSince`. */
  conflict?: boolean;
};

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

export interface CopiedMessage {
  /** The original. */
  sourceId: number;
  sourceUid: number;
  /** The new message in the target. */
  id: number;
  uid: number;
  modseq: number;
}

export interface CopyResult {
  target: { id: number; uidvalidity: number };
  copied: CopiedMessage[];
}

/** A message moved or copied between mailboxes, by their special use (what spam learning watches). */
export interface MailboxTransfer {
  userId: number;
  /** The message now in the target (the copy, for a copy). */
  messageId: number;
  from: SpecialUse | null;
  to: SpecialUse | null;
}

export interface DeletedMessage {
  id: number;
  mailboxId: number;
  uid: number;
  modseq: number;
}

export interface QuotaOption {
  /** Refuse with 413 'quota.exceeded' (QuotaExceededError) unless the new messages fit in the user's quota. */
  enforceQuota?: boolean;
}

export interface OnlyFromOption {
  /** Only act on messages in a mailbox with one of these special uses (else 409 'message.not_in_trash'). */
  onlyFrom?: readonly SpecialUse[];
}

/** Mailboxes whose messages may be deleted forever in bulk. */
export const EMPTYABLE: readonly SpecialUse[] = ['\\Trash', '\\Junk'];

const isUnseen = (flags: readonly string[]) => !flags.includes('\\Seen');

function addDelta(deltas: Map<number, MailboxDelta>, mailboxId: number, change: Partial<MailboxDelta>): void {
  const d = deltas.get(mailboxId) ?? { count: 0, unseen: 0, bytes: 0, highestmodseq: 0, uids: 0 };
  d.count += change.count ?? 0;
  d.unseen += change.unseen ?? 0;
  d.bytes += change.bytes ?? 0;
  d.uids += change.uids ?? 0;
  d.highestmodseq = Math.max(d.highestmodseq, change.highestmodseq ?? 0);
  deltas.set(mailboxId, d);
}

function notInAllowedFolder(onlyFrom: readonly SpecialUse[], what: string): AppError {
  return new AppError('message.not_in_trash', `only messages in ${onlyFrom.join(' or ')} can be ${what}`, 409);
}

export class MailboxWrite {
  private readonly changeLog: Array<{ userId: number; event: ChangeLogEvent }> = [];
  /** message.new of spool rows filed by an earlier attempt, published again (see `append`); not logged again. */
  private readonly republished: Array<{ userId: number; event: ChangeLogEvent }> = [];
  /** Latest counts per mailbox touched, for the mailbox.counts hints after commit. */
  private readonly counts = new Map<number, { userId: number; total: number; unread: number }>();
  private readonly deletedMailboxes = new Set<number>();
  private readonly transferred: MailboxTransfer[] = [];

  private constructor(
    readonly tx: Tx,
    private readonly clocks: Map<number, ModseqClock>,
  ) {}

  /** Locks these users (in id order) for a write in `tx`; `reserve`: how many modseqs each will likely take (see ModseqClock). */
  static async open(tx: Tx, userIds: readonly number[], reserve?: ReadonlyMap<number, number>): Promise<MailboxWrite> {
    return new MailboxWrite(tx, await ModseqClock.lockAll(tx, userIds, reserve));
  }

  /** Gives back unused modseqs (one statement for all users). Call once, before the transaction commits. */
  async finish(): Promise<void> {
    await ModseqClock.finishAll(this.tx, this.clocks.values());
  }

  /** What to publish after commit, per user: the change-log events in modseq order (after older ones published again), then mailbox.counts hints. */
  events(): Array<{ userId: number; event: UserEvent }> {
    const out: Array<{ userId: number; event: UserEvent }> = [...this.republished, ...this.changeLog];
    for (const [mailboxId, c] of this.counts) {
      if (!this.deletedMailboxes.has(mailboxId)) out.push({ userId: c.userId, event: { type: 'mailbox.counts', mailboxId, total: c.total, unread: c.unread } });
    }
    return out;
  }

  /** Messages moved or copied between mailboxes by this write, for `afterTransfer` once it has committed (see index.ts). */
  transfers(): readonly MailboxTransfer[] {
    return this.transferred;
  }

  /** The user's clock; throws when the user was not locked by `open` (a writer bug, never a client error). */
  private clock(userId: number): ModseqClock {
    const clock = this.clocks.get(userId);
    if (!clock) throw new Error(`mailbox writer: user ${userId} was not locked for this write`);
    return clock;
  }

  private async log(userId: number, events: ChangeLogEvent[]): Promise<void> {
    await this.logAll(events.map((event) => ({ userId, event })));
  }

  /** Appends to the change log, every user's entries in one statement; each user's in modseq order. */
  private async logAll(entries: Array<{ userId: number; event: ChangeLogEvent }>): Promise<void> {
    if (entries.length === 0) return;
    await createModseqRepository(this.tx).appendChanges(entries.map((e) => toChangeRow(e.userId, e.event)));
    this.changeLog.push(...entries);
  }

  /** Applies counter changes to the user's mailboxes, and their byte total to the user's quota usage. */
  private async applyDeltas(userId: number, deltas: Map<number, MailboxDelta>): Promise<Map<number, MailboxCounts>> {
    return this.applyAllDeltas([...deltas].map(([mailboxId, delta]) => ({ userId, mailboxId, delta })));
  }

  /** `applyDeltas` for mailboxes of any number of users, in one statement (quota usage included). */
  private async applyAllDeltas(changes: Array<{ userId: number; mailboxId: number; delta: MailboxDelta }>): Promise<Map<number, MailboxCounts>> {
    const result = await createMailboxRepository(this.tx).applyDeltas(changes);
    for (const { userId, delta } of changes) this.clock(userId).used(delta.bytes);
    for (const { userId, mailboxId } of changes) {
      const c = result.get(mailboxId);
      if (!c) throw new AppError('mailbox.not_found', 'no such mailbox', 404);
      this.counts.set(mailboxId, { userId, total: c.total, unread: c.unread });
    }
    return result;
  }

  /** 413 'quota.exceeded' unless `adding` bytes fit: the usage came with the user's lock, moved by this write's counters (no query). */
  private assertRoom(userId: number, adding: number): void {
    const usage = this.clock(userId).usage;
    if (!hasRoom(usage, adding)) throw new QuotaExceededError(usage);
  }

  private async lockMailbox(userId: number, target: MailboxTarget) {
    const mailbox = await createMailboxRepository(this.tx).lockForWrite(userId, target);
    if (!mailbox) throw new AppError('mailbox.not_found', 'no such mailbox', 404);
    return mailbox;
  }

  private async lockMessages(userId: number, ids: number[]) {
    const rows = await createMessageRepository(this.tx).lockForWrite(userId, ids);
    if (rows.length !== ids.length) throw new AppError('message.not_found', 'no such message', 404);
    return rows;
  }

  // -------------------------------------------------------------------------------------------
  // Adding messages

  /** Adds messages to the user's mailboxes: `appendMany` for one user. */
  async append(userId: number, inputs: readonly AppendInput[], options: QuotaOption = {}): Promise<AppendResult[]> {
    return (await this.appendMany([{ userId, inputs }], options))[0]!;
  }

  /**
   * Adds messages to the mailboxes of any number of users with a fixed number of statements,
   * whatever the number of users (the inbound worker's group commit). Per user, in input order:
   * consecutive modseqs and, per mailbox, consecutive UIDs. Results line up with each part's
   * `inputs`; a spool row filed before for that user (or twice in this batch) comes back with
   * `duplicate: true`. A spool row filed by an earlier transaction gets its message.new published
   * again after this commit: the job runs again because the attempt that filed it did not finish,
   * and a worker killed between its commit and its publish never told the live clients (the
   * change log has it; consumers take a repeated message.new as a no-op).
   */
  async appendMany(parts: ReadonlyArray<{ userId: number; inputs: readonly AppendInput[] }>, options: QuotaOption = {}): Promise<AppendResult[][]> {
    const items = parts.flatMap(({ userId, inputs }) => inputs.map((input) => ({ userId, input, clock: this.clock(userId) })));
    const spoolKey = (item: (typeof items)[number]) => (item.input.spoolId === undefined ? null : filingKeyOf(item.userId, item.input.spoolId));
    const messages = createMessageRepository(this.tx);
    const spooled = new Map<string, { userId: number; spoolId: number }>();
    for (const { userId, input } of items) if (input.spoolId !== undefined) spooled.set(filingKeyOf(userId, input.spoolId), { userId, spoolId: input.spoolId });
    const filed = await messages.filingsOf([...spooled.values()]);
    // Per (user, spool row): the filing this batch answers with (an earlier one, or its own first one).
    const previous = new Map<string, AppendResult>();
    for (const item of items) {
      const key = spoolKey(item);
      const f = key === null ? undefined : filed.get(key);
      if (!f || previous.has(key!)) continue;
      previous.set(key!, { messageId: f.messageId, mailboxId: f.mailboxId ?? 0, uid: f.uid ?? 0, modseq: f.modseq ?? 0, threadId: f.threadId ?? 0, duplicate: true });
      // Still there (not deleted since): where it is now.
      if (f.mailboxId !== null && f.uid !== null && f.modseq !== null && f.threadId !== null) {
        this.republished.push({ userId: item.userId, event: { type: 'message.new', modseq: f.modseq, mailboxId: f.mailboxId, messageId: f.messageId, uid: f.uid, threadId: f.threadId } });
      }
    }
    const seen = new Set<string>();
    const fresh = items.flatMap((item, index) => {
      const key = spoolKey(item);
      if (key === null) return [index];
      if (previous.has(key) || seen.has(key)) return [];
      seen.add(key);
      return [index];
    });
    const results: AppendResult[] = [];

    if (fresh.length > 0) {
      // Where each goes (the special-use mailboxes of every user, in one lookup), its flags, size and date.
      const wanted = new Map<string, { userId: number; specialUse: SpecialUse }>();
      for (const index of fresh) {
        const { userId, input } = items[index]!;
        if ('specialUse' in input.mailbox) wanted.set(`${userId}:${input.mailbox.specialUse}`, { userId, specialUse: input.mailbox.specialUse });
      }
      const special = new Map((await createMailboxRepository(this.tx).findSpecialMany([...wanted.values()])).map((m) => [`${m.userId}:${m.specialUse}`, m.id]));
      const planned = fresh.map((index) => {
        const { userId, input, clock } = items[index]!;
        let mailboxId: number;
        if ('id' in input.mailbox) mailboxId = input.mailbox.id;
        else {
          const found = special.get(`${userId}:${input.mailbox.specialUse}`);
          if (found === undefined) throw new AppError('mailbox.not_found', `user ${userId} has no ${input.mailbox.specialUse} mailbox`, 404);
          mailboxId = found;
        }
        const traceHeaders = input.traceHeaders ?? '';
        const blobSize = 'raw' in input.content ? input.content.raw.length : input.content.size;
        const hash = 'raw' in input.content ? blobHash(input.content.raw) : input.content.blobHash;
        return { index, userId, clock, input, mailboxId, hash, flags: normalizeFlags(input.flags ?? []), size: blobSize + Buffer.byteLength(traceHeaders), traceHeaders, internalDate: input.internalDate ?? new Date(), modseq: 0 };
      });

      const byUser = new Map<number, typeof planned>();
      for (const p of planned) byUser.set(p.userId, [...(byUser.get(p.userId) ?? []), p]);
      if (options.enforceQuota) {
        for (const [userId, mine] of byUser) this.assertRoom(userId, mine.reduce((sum, p) => sum + p.size, 0));
      }

      // Modseqs per user (reserved when the write was opened), then UIDs and counters per mailbox.
      for (const mine of byUser.values()) {
        const first = await mine[0]!.clock.take(mine.length);
        mine.forEach((p, n) => (p.modseq = first + n));
      }
      const deltas = new Map<number, MailboxDelta>();
      const owner = new Map<number, number>();
      for (const p of planned) {
        // A mailbox has one owner: two users naming the same one means it is not one of theirs.
        if ((owner.get(p.mailboxId) ?? p.userId) !== p.userId) throw new AppError('mailbox.not_found', 'no such mailbox', 404);
        addDelta(deltas, p.mailboxId, { count: 1, unseen: isUnseen(p.flags) ? 1 : 0, bytes: p.size, uids: 1, highestmodseq: p.modseq });
        owner.set(p.mailboxId, p.userId);
      }
      const counts = await this.applyAllDeltas([...deltas].map(([mailboxId, delta]) => ({ userId: owner.get(mailboxId)!, mailboxId, delta })));
      const nextUid = new Map([...counts].map(([id, c]) => [id, c.firstUid]));

      const threads = await assignThreads(this.tx, planned.map((p) => ({ userId: p.userId, summary: p.input.summary, internalDate: p.internalDate })));
      const rows = planned.map((p, n) => {
        const uid = nextUid.get(p.mailboxId)!;
        nextUid.set(p.mailboxId, uid + 1);
        const s = p.input.summary;
        return {
          user_id: p.userId,
          mailbox_id: p.mailboxId,
          uid,
          modseq: p.modseq,
          flags: p.flags,
          internal_date: p.internalDate,
          internal_date_zone: p.input.internalDateZone ?? 0,
          size: p.size,
          blob_hash: p.hash,
          trace_headers: p.traceHeaders,
          thread_id: threads.threadIds[n]!,
          message_id_header: s.messageId,
          in_reply_to: s.inReplyTo,
          references: s.references,
          subject: s.subject,
          normalized_subject: s.normalizedSubject,
          from_json: JSON.stringify(s.from),
          to_json: JSON.stringify(s.to),
          cc_json: JSON.stringify(s.cc),
          from_text: addressText(s.from),
          to_text: addressText(s.to),
          cc_text: addressText(s.cc),
          sent_date: s.sentDate,
          snippet: s.snippet,
          body_text: s.bodyText,
          has_attachments: s.attachments.length > 0,
          attachments: JSON.stringify(s.attachments),
          attachment_names: s.attachments.map((a) => a.filename ?? '').join(' '),
          spool_id: p.input.spoolId ?? null,
          authentication: p.input.authentication ? JSON.stringify(p.input.authentication) : null,
          filter: p.input.filter ? JSON.stringify(p.input.filter) : null,
        };
      });
      // The rows with their bytes (stored once), thread keys, search queue, change log and spool filings: one statement.
      const blobs = planned.flatMap((p) => ('raw' in p.input.content ? [{ hash: p.hash, data: p.input.content.raw }] : []));
      const ids = await messages.insertNew(rows, { blobs, threadKeys: threads.newKeys });
      // Contacts (recipient suggestions): the senders of mail delivered to the Inbox, in this transaction.
      const isInbox = (p: (typeof planned)[number]) => 'specialUse' in p.input.mailbox && p.input.mailbox.specialUse === '\\Inbox';
      await createContactRepository(this.tx).recordReceivedMany([...byUser].map(([userId, mine]) => ({ userId, senders: mine.filter(isInbox).map((p) => p.input.summary.from) })));

      const events = planned.map((p, n) => {
        const row = rows[n]!;
        const stored = { flags: row.flags, internalDate: row.internal_date, internalDateZone: row.internal_date_zone, size: row.size, sentDate: row.sent_date };
        const result: AppendResult = { messageId: ids[n]!, mailboxId: p.mailboxId, uid: row.uid, modseq: row.modseq, threadId: row.thread_id, duplicate: false, stored };
        results[p.index] = result;
        if (p.input.spoolId !== undefined) previous.set(filingKeyOf(p.userId, p.input.spoolId), { messageId: result.messageId, mailboxId: result.mailboxId, uid: result.uid, modseq: result.modseq, threadId: result.threadId, duplicate: true });
        return { userId: p.userId, event: { type: 'message.new', modseq: row.modseq, mailboxId: p.mailboxId, messageId: result.messageId, uid: row.uid, threadId: row.thread_id } satisfies ChangeLogEvent };
      });
      // insertNew wrote their change-log rows.
      this.changeLog.push(...events);
    }

    const answers = items.map((item, index) => results[index] ?? previous.get(spoolKey(item)!)!);
    let next = 0;
    return parts.map(({ inputs }) => answers.slice(next, (next += inputs.length)));
  }

  /** Copies of the user's messages in a mailbox (IMAP COPY): new ids and UIDs, same bytes, flags and thread. */
  async copy(userId: number, messageIds: readonly number[], target: MailboxTarget, options: QuotaOption = {}): Promise<CopyResult> {
    this.clock(userId);
    const ids = uniqueIds(messageIds);
    const rows = (await this.lockMessages(userId, ids)).sort((a, b) => a.mailboxId - b.mailboxId || a.uid - b.uid);
    const mailbox = await this.lockMailbox(userId, target);
    const result: CopyResult = { target: { id: mailbox.id, uidvalidity: mailbox.uidvalidity }, copied: [] };
    if (rows.length === 0) return result;
    if (options.enforceQuota) this.assertRoom(userId, rows.reduce((sum, r) => sum + r.size, 0));
    const first = await this.clock(userId).take(rows.length);
    const deltas = new Map<number, MailboxDelta>();
    addDelta(deltas, mailbox.id, {
      count: rows.length,
      unseen: rows.filter((r) => isUnseen(r.flags)).length,
      bytes: rows.reduce((sum, r) => sum + r.size, 0),
      uids: rows.length,
      highestmodseq: first + rows.length - 1,
    });
    const firstUid = (await this.applyDeltas(userId, deltas)).get(mailbox.id)!.firstUid;
    const planned = rows.map((r, i) => ({ sourceId: r.id, sourceUid: r.uid, mailboxId: mailbox.id, uid: firstUid + i, modseq: first + i, flags: r.flags, threadId: r.threadId }));
    const newIds = await createMessageRepository(this.tx).copyRows(userId, planned);
    result.copied = planned.map((p, i) => ({ sourceId: p.sourceId, sourceUid: p.sourceUid, id: newIds[i]!, uid: p.uid, modseq: p.modseq }));
    rows.forEach((r, i) => this.transferred.push({ userId, messageId: newIds[i]!, from: r.specialUse, to: mailbox.specialUse }));
    await this.log(
      userId,
      planned.map((p, i) => ({ type: 'message.new', modseq: p.modseq, mailboxId: mailbox.id, messageId: newIds[i]!, uid: p.uid, threadId: p.threadId })),
    );
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // Changing messages (flags: flag-store.ts, one statement outside a transaction)

  /**
   * Moves the user's messages into a mailbox. Each row keeps its id and flags, gets a new UID from
   * the target's uidnext (above every UID the target ever gave out) and moved_at = now(); source
   * counters go down, the target's up.
   */
  async move(userId: number, messageIds: readonly number[], target: MailboxTarget, options: OnlyFromOption = {}): Promise<MoveResult> {
    this.clock(userId);
    const rows = await this.lockMessages(userId, uniqueIds(messageIds));
    const mailbox = await this.lockMailbox(userId, target);
    const { onlyFrom } = options;
    if (onlyFrom && rows.some((r) => !r.specialUse || !onlyFrom.includes(r.specialUse))) throw notInAllowedFolder(onlyFrom, 'moved this way');
    const moving = rows.filter((r) => r.mailboxId !== mailbox.id).sort((a, b) => a.mailboxId - b.mailboxId || a.uid - b.uid);
    const unchanged = rows.filter((r) => r.mailboxId === mailbox.id).map((r) => ({ id: r.id, uid: r.uid, flags: r.flags }));
    const result: MoveResult = { target: { id: mailbox.id, uidvalidity: mailbox.uidvalidity }, moved: [], unchanged };
    if (moving.length === 0) return result;

    const first = await this.clock(userId).take(moving.length);
    const deltas = new Map<number, MailboxDelta>();
    moving.forEach((r, i) => addDelta(deltas, r.mailboxId, { count: -1, unseen: isUnseen(r.flags) ? -1 : 0, bytes: -r.size, highestmodseq: first + i }));
    addDelta(deltas, mailbox.id, {
      count: moving.length,
      unseen: moving.filter((r) => isUnseen(r.flags)).length,
      bytes: moving.reduce((sum, r) => sum + r.size, 0),
      highestmodseq: first + moving.length - 1,
      uids: moving.length,
    });
    const firstUid = (await this.applyDeltas(userId, deltas)).get(mailbox.id)!.firstUid;
    result.moved = moving.map((r, i) => ({ id: r.id, fromMailboxId: r.mailboxId, fromUid: r.uid, mailboxId: mailbox.id, uid: firstUid + i, modseq: first + i, flags: r.flags }));
    await createMessageRepository(this.tx).relocate(userId, mailbox.id, result.moved);
    for (const r of moving) this.transferred.push({ userId, messageId: r.id, from: r.specialUse, to: mailbox.specialUse });
    await this.log(
      userId,
      result.moved.map((m) => ({ type: 'message.moved', modseq: m.modseq, messageId: m.id, fromMailboxId: m.fromMailboxId, fromUid: m.fromUid, mailboxId: m.mailboxId, uid: m.uid })),
    );
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // Removing messages

  /** Deletes the user's messages with these ids forever. */
  async remove(userId: number, messageIds: readonly number[], options: OnlyFromOption = {}): Promise<DeletedMessage[]> {
    this.clock(userId);
    const ids = uniqueIds(messageIds);
    const rows = await this.lockMessages(userId, ids);
    const { onlyFrom } = options;
    if (onlyFrom && rows.some((r) => !r.specialUse || !onlyFrom.includes(r.specialUse))) throw notInAllowedFolder(onlyFrom, 'deleted forever');
    return this.removeWhere(userId, { ids });
  }

  /** IMAP EXPUNGE: removes the messages flagged \Deleted in a mailbox (only those with these UIDs, when given). */
  async expunge(userId: number, mailboxId: number, uids?: readonly number[]): Promise<DeletedMessage[]> {
    this.clock(userId);
    const mailbox = await this.lockMailbox(userId, mailboxId);
    return this.removeWhere(userId, { mailboxId: mailbox.id, deletedFlag: true, ...(uids ? { uids } : {}) });
  }

  /** Deletes every message in the user's Trash or Junk (409 'mailbox.not_emptyable' for any other folder). */
  async empty(userId: number, mailboxId: number): Promise<DeletedMessage[]> {
    this.clock(userId);
    const mailbox = await this.lockMailbox(userId, mailboxId);
    if (!mailbox.specialUse || !EMPTYABLE.includes(mailbox.specialUse)) throw new AppError('mailbox.not_emptyable', 'only Trash and Junk can be emptied', 409);
    return this.removeWhere(userId, { mailboxId: mailbox.id });
  }

  /** Deletes up to `limit` messages that have been in this Trash since before `olderThan`. */
  async purgeFromTrash(userId: number, trashId: number, olderThan: Date, limit: number): Promise<DeletedMessage[]> {
    this.clock(userId);
    return this.removeWhere(userId, { mailboxId: trashId, movedBefore: olderThan, limit });
  }

  /** Deletes rows, then does the bookkeeping: one modseq and change entry per message, counters. */
  private async removeWhere(userId: number, filter: RemovalFilter): Promise<DeletedMessage[]> {
    const removed: RemovedMessage[] = await createMessageRepository(this.tx).removeWhere(userId, filter);
    if (removed.length === 0) return [];
    const rows = removed.sort((a, b) => a.mailboxId - b.mailboxId || a.uid - b.uid);
    const first = await this.clock(userId).take(rows.length);
    const deltas = new Map<number, MailboxDelta>();
    const deleted = rows.map((r, i) => {
      addDelta(deltas, r.mailboxId, { count: -1, unseen: isUnseen(r.flags) ? -1 : 0, bytes: -r.size, highestmodseq: first + i });
      return { id: r.id, mailboxId: r.mailboxId, uid: r.uid, modseq: first + i };
    });
    await this.applyDeltas(userId, deltas);
    await this.log(userId, deleted.map((d) => ({ type: 'message.deleted', modseq: d.modseq, mailboxId: d.mailboxId, messageId: d.id, uid: d.uid })));
    return deleted;
  }

  // -------------------------------------------------------------------------------------------
  // Folders

  private async assertNameFree(userId: number, name: string): Promise<void> {
    if (await createMailboxRepository(this.tx).nameTaken(userId, name)) throw new AppError('mailbox.exists', `a folder named ${JSON.stringify(name)} already exists`, 409);
  }

  /** A new custom folder (see MailboxRepository.insertFolder for its UIDVALIDITY). */
  async createMailbox(userId: number, name: string): Promise<MailboxRow> {
    this.clock(userId);
    const clean = validateMailboxName(name);
    await this.assertNameFree(userId, clean);
    const repo = createMailboxRepository(this.tx);
    const created = await translateUnique(() => repo.insertFolder(userId, clean), clean);
    await this.log(userId, [{ type: 'mailbox.created', modseq: await this.clock(userId).take(1), mailboxId: created.id, name: clean, uidvalidity: created.uidvalidity }]);
    return (await repo.get(userId, created.id))!;
  }

  async renameMailbox(userId: number, mailboxId: number, name: string): Promise<MailboxRow> {
    this.clock(userId);
    const clean = validateMailboxName(name);
    const mailbox = await this.lockMailbox(userId, mailboxId);
    if (mailbox.specialUse) throw protectedError();
    const repo = createMailboxRepository(this.tx);
    if (mailbox.name !== clean) {
      await this.assertNameFree(userId, clean);
      await translateUnique(() => repo.rename(userId, mailbox.id, clean), clean);
      await this.log(userId, [{ type: 'mailbox.renamed', modseq: await this.clock(userId).take(1), mailboxId: mailbox.id, name: clean, from: mailbox.name }]);
    }
    return (await repo.get(userId, mailbox.id))!;
  }

  /** Deletes a custom folder and its messages (one message.deleted change each, then mailbox.deleted). */
  async deleteMailbox(userId: number, mailboxId: number): Promise<{ deletedMessages: number }> {
    this.clock(userId);
    const mailbox = await this.lockMailbox(userId, mailboxId);
    if (mailbox.specialUse) throw protectedError();
    const deleted = await this.removeWhere(userId, { mailboxId: mailbox.id });
    await createMailboxRepository(this.tx).remove(userId, mailbox.id);
    this.deletedMailboxes.add(mailbox.id);
    await this.log(userId, [{ type: 'mailbox.deleted', modseq: await this.clock(userId).take(1), mailboxId: mailbox.id, name: mailbox.name, uidvalidity: mailbox.uidvalidity }]);
    return { deletedMessages: deleted.length };
  }
}

function protectedError(): AppError {
  return new AppError('mailbox.protected', 'system folders cannot be renamed or deleted', 403);
}

/** A concurrent folder of the same name (unique index) is the same 409 as one seen before. */
async function translateUnique<T>(run: () => Promise<T>, name: string): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError('mailbox.exists', `a folder named ${JSON.stringify(name)} already exists`, 409);
    throw err;
  }
}

