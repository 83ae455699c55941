import type { ImapMessageRow, UserEvent } from '@mailyard/core';
import { inSequenceSet, parseSequenceSet, type SequenceSet } from '../protocol/commands/sequence-set.js';

/** A message removed from the session's view: reported as `* seq EXPUNGE`, or by UID in VANISHED (QRESYNC). */
export interface Removed {
  seq: number;
  uid: number;
}

/**
 * The selected mailbox as this session has told its client: messages in UID order (sequence
 * number = position + 1), and the changes from elsewhere not yet reported. Changes arrive from the
 * change feed at any time and are only recorded here; the session reports them (EXPUNGE, EXISTS,
 * FETCH FLAGS) when the protocol allows (`takeUpdates`). Events the session caused itself, or that
 * its snapshot already reflects, are recognized by UID and modseq and ignored.
 */
export class SelectedMailbox {
  private messages: ImapMessageRow[];
  private byUid = new Map<number, ImapMessageRow>();
  private expunged = new Set<number>();
  private flagsChanged = new Set<number>();
  /** UIDs that are \Recent for this session (it claimed them: RFC 3501 2.3.2). */
  private recentUids = new Set<number>();
  /**
   * New messages exist above the last UID known up to this UID (Infinity: some may, UIDs unknown),
   * and are read when reporting while it is above `lastUid`. A UID, not a yes/no: the feed's
   * `message.new` for a row a report is reading at that moment names a UID that read brings, and
   * so asks for no second read.
   */
  private newUpTo = 0;
  /** Too much happened (a resync, a lost feed): compare the whole mailbox when reporting. */
  private needsResync = false;
  /**
   * The last SEARCH RETURN (SAVE) result, `$` (SEARCHRES, RFC 5182), by UID: empty when the
   * mailbox is selected; an expunged message drops out of it, as it no longer resolves.
   */
  savedUids: ReadonlySet<number> = new Set();
  /** Every change up to this modseq has been read from the store into this view (SELECT's read, then each `catchUp`). */
  private caughtUpTo: number;

  /**
   * @param rows the mailbox as read from the store, in UID order.
   * @param syncedModseq every change up to this modseq was in the store when `rows` were read (a
   *   later SELECT of the same mailbox by this session reads only what changed after it: on-select.ts).
   */
  constructor(
    readonly id: number,
    readonly name: string,
    readonly readOnly: boolean,
    readonly uidvalidity: number,
    rows: ImapMessageRow[],
    readonly syncedModseq: number,
  ) {
    this.messages = rows;
    for (const row of rows) this.byUid.set(row.uid, row);
    this.caughtUpTo = syncedModseq;
  }

  /** The modseq to ask the store for changes after (`catchUp`). */
  get caughtUpModseq(): number {
    return this.caughtUpTo;
  }

  /**
   * Records what the store says changed since `caughtUpModseq` (`ImapMessages.sync` with `since`:
   * the UIDs that left, the rows that changed or came in), as the feed's events are recorded: a
   * NOOP reports what another session changed before it, whether or not the feed has brought it yet.
   * `gone` null (too much changed): the whole mailbox is compared on the next report.
   */
  catchUp(changed: { rows: readonly ImapMessageRow[]; gone: readonly number[] | null; modseq: number }, options: { takeNew: boolean }): void {
    if (changed.gone === null) this.needsResync = true;
    else {
      for (const uid of changed.gone) this.recordGone(uid);
      const last = this.lastUid;
      const fresh: ImapMessageRow[] = [];
      for (const row of changed.rows) {
        if (row.uid > last) fresh.push(row);
        else this.recordFlags(row.uid, row.flags, row.modseq);
      }
      // The store's answer holds every row above the UID it was asked from: with `takeNew` they
      // join the view now (no second read when reporting); without (a session that claims \Recent
      // as it reads new rows), the report reads them.
      if (options.takeNew) this.appendRows(fresh.sort((a, b) => a.uid - b.uid));
      else for (const row of fresh) this.announceNew(row.uid);
    }
    this.caughtUpTo = Math.max(this.caughtUpTo, changed.modseq);
  }

  /**
   * The rows of a new view of this mailbox from what the store says changed since this view was
   * read (`syncedModseq`): `gone`, the UIDs up to `lastUid` that left, and `changed`, the rows
   * above `lastUid` or changed since (by UID). Null when the result cannot be trusted (a changed
   * row below `lastUid` this view does not have, or not `total` rows in all): read the whole
   * mailbox again.
   */
  rowsAfter(gone: readonly number[], changed: readonly ImapMessageRow[], total: number): ImapMessageRow[] | null {
    const last = this.lastUid;
    const left = new Set(gone);
    const fresh = new Map(changed.map((r) => [r.uid, r]));
    const rows: ImapMessageRow[] = [];
    for (const row of this.messages) {
      if (left.has(row.uid)) continue;
      rows.push(fresh.get(row.uid) ?? row);
      fresh.delete(row.uid);
    }
    for (const row of fresh.values()) {
      if (row.uid <= last) return null;
      rows.push(row);
    }
    return rows.length === total ? rows : null;
  }

  get exists(): number {
    return this.messages.length;
  }

  get lastUid(): number {
    return this.messages.at(-1)?.uid ?? 0;
  }

  rows(): readonly ImapMessageRow[] {
    return this.messages;
  }

  /** Marks the messages at or above `firstUid` as recent for this session; returns how many are. */
  markRecent(firstUid: number): number {
    for (const row of this.messages) if (row.uid >= firstUid) this.recentUids.add(row.uid);
    return this.recentCount;
  }

  get recentCount(): number {
    return this.messages.filter((r) => this.recentUids.has(r.uid)).length;
  }

  isRecent(uid: number): boolean {
    return this.recentUids.has(uid);
  }

  /** A message's flags as this session shows them: \Recent added when it is recent here. */
  flagsOf(row: Pick<ImapMessageRow, 'uid' | 'flags'>): string[] {
    return this.recentUids.has(row.uid) ? ['\\Recent', ...row.flags] : row.flags;
  }

  seqOf(uid: number): number {
    const row = this.byUid.get(uid);
    return row ? this.messages.indexOf(row) + 1 : 0;
  }

  /**
   * A sequence-set argument of a command (UIDs when `byUid`), or `$`: the saved result, as UIDs
   * whichever the command (RFC 5182 2.1), so `byUid` is true for it.
   */
  sequenceSet(text: string, byUid: boolean, tag: string): { set: SequenceSet; byUid: boolean } {
    if (text !== '$') return { set: parseSequenceSet(text, tag), byUid };
    return { set: [...this.savedUids].map((uid) => ({ from: uid, to: uid })), byUid: true };
  }

  /** Messages named by a sequence set of sequence numbers or UIDs, in sequence order. */
  resolve(set: SequenceSet, byUid: boolean): Array<{ seq: number; row: ImapMessageRow }> {
    const star = byUid ? this.lastUid : this.messages.length;
    const out: Array<{ seq: number; row: ImapMessageRow }> = [];
    this.messages.forEach((row, i) => {
      if (inSequenceSet(set, byUid ? row.uid : i + 1, star)) out.push({ seq: i + 1, row });
    });
    return out;
  }

  /** True when a sequence set of sequence numbers names a number beyond EXISTS (a BAD). */
  outOfRange(set: SequenceSet): boolean {
    return set.some((r) => (r.from !== null && r.from > this.messages.length) || (r.to !== null && r.to > this.messages.length));
  }

  /** This session changed flags itself: its snapshot follows (and the feed's echo is ignored). */
  updateFlags(uid: number, flags: string[], modseq: number): void {
    const row = this.byUid.get(uid);
    if (!row || modseq < row.modseq) return;
    row.flags = flags;
    row.modseq = modseq;
    // The session reports these flags itself: a change the feed recorded up to here is covered.
    this.flagsChanged.delete(uid);
  }

  /** Removes messages (this session's EXPUNGE or MOVE, or expunges reported): their sequence numbers and UIDs, in the order to report them. */
  remove(uids: readonly number[]): Removed[] {
    const seqs: Removed[] = [];
    for (const uid of [...uids].sort((a, b) => b - a)) {
      const row = this.byUid.get(uid);
      if (!row) continue;
      const index = this.messages.indexOf(row);
      seqs.push({ seq: index + 1, uid });
      this.messages.splice(index, 1);
      this.byUid.delete(uid);
      this.expunged.delete(uid);
      this.flagsChanged.delete(uid);
    }
    // Each EXPUNGE told lowers the client's count.
    this.reportedExists -= seqs.length;
    return seqs;
  }

  /** Records a change from the feed. */
  apply(event: UserEvent): void {
    switch (event.type) {
      case 'message.new':
        if (event.mailboxId === this.id) this.announceNew(event.uid);
        break;
      case 'message.flags':
        if (event.mailboxId === this.id) this.recordFlags(event.uid, event.flags, event.modseq);
        break;
      case 'message.deleted':
        if (event.mailboxId === this.id) this.recordGone(event.uid);
        break;
      case 'message.moved':
        if (event.fromMailboxId === this.id) this.recordGone(event.fromUid);
        if (event.mailboxId === this.id) this.announceNew(event.uid);
        break;
      default:
        break;
    }
  }

  /** A message of the view has left the mailbox (reported as EXPUNGE when the protocol allows). */
  private recordGone(uid: number): void {
    if (this.byUid.has(uid)) this.expunged.add(uid);
  }

  /** A message's flags as of `modseq`, when newer than what the view has (reported as FETCH FLAGS). */
  private recordFlags(uid: number, flags: string[], modseq: number): void {
    const row = this.byUid.get(uid);
    if (!row || modseq <= row.modseq) return;
    row.flags = flags;
    row.modseq = modseq;
    this.flagsChanged.add(uid);
  }

  /** A message with this UID is in the mailbox: read when reporting, unless the view has it by then. */
  private announceNew(uid: number): void {
    if (uid > this.lastUid) this.newUpTo = Math.max(this.newUpTo, uid);
  }

  /** New messages may have arrived (this session appended or copied here). */
  expectNew(): void {
    this.newUpTo = Infinity;
  }

  /**
   * This session's APPEND to this mailbox, as written (UID order): the rows join the view without a
   * read when they follow its last UID with no gap (nothing else came in before them); otherwise
   * (a gap, a row missing) the next report reads what is new.
   */
  addAppended(rows: ReadonlyArray<ImapMessageRow | undefined>): void {
    const last = this.lastUid;
    const follows = rows.length > 0 && rows.every((row, i) => row !== undefined && row.uid === last + 1 + i);
    if (follows) this.appendRows(rows as ImapMessageRow[]);
    else this.expectNew();
  }

  /** Compare everything on the next report (after a resync or a lost feed). */
  resync(): void {
    this.needsResync = true;
  }

  /**
   * What to report now. `load(afterUid)` reads the mailbox's rows above a UID (0: all of them).
   * With `allowExpunge` false (during FETCH, STORE, SEARCH) expunges wait for a later command.
   */
  async takeUpdates(load: (afterUid: number) => Promise<ImapMessageRow[]>, allowExpunge: boolean): Promise<{ expunged: Removed[]; exists: number | null; flags: ImapMessageRow[] }> {
    if (this.needsResync) {
      this.needsResync = false;
      this.newUpTo = 0;
      const current = new Map((await load(0)).map((r) => [r.uid, r]));
      for (const row of this.messages) {
        const now = current.get(row.uid);
        if (!now) this.expunged.add(row.uid);
        else this.recordFlags(row.uid, now.flags, now.modseq);
      }
      this.appendRows([...current.values()].filter((r) => r.uid > this.lastUid).sort((a, b) => a.uid - b.uid));
    } else if (this.newUpTo > this.lastUid) {
      // A `message.new` that arrives during the read for a UID the read brings leaves newUpTo at
      // or below the new lastUid: nothing more to read. One above it (a later message) stays.
      const expected = this.newUpTo;
      if (expected === Infinity) this.newUpTo = 0;
      let rows: ImapMessageRow[];
      try {
        rows = await load(this.lastUid);
      } catch (err) {
        this.newUpTo = Math.max(this.newUpTo, expected); // still to read at the next report
        throw err;
      }
      this.appendRows(rows);
    }
    const expunged = allowExpunge ? this.remove([...this.expunged]) : [];
    const flags = [...this.flagsChanged].flatMap((uid) => {
      const row = this.byUid.get(uid);
      return row && !this.expunged.has(uid) ? [row] : [];
    });
    for (const row of flags) this.flagsChanged.delete(row.uid);
    const exists = this.reportedExists === this.messages.length ? null : this.messages.length;
    this.reportedExists = this.messages.length;
    return { expunged, exists, flags };
  }

  /** EXISTS as last told to the client. */
  reportedExists = 0;

  private appendRows(rows: ImapMessageRow[]): void {
    for (const row of rows) {
      if (row.uid <= this.lastUid) continue;
      this.messages.push(row);
      this.byUid.set(row.uid, row);
    }
  }
}
