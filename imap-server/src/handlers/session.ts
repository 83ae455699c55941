import type { ImapChangeFeed, ImapMessageRow, ImapServices, Logger, UserEvent } from '@mailyard/core';
import { Args, InvalidMailboxNameError } from '../protocol/commands/args.js';
import type { Frame } from '../protocol/command-reader.js';
import { ImapParseError, parseCommand } from '../protocol/parser.js';
import { formatSequenceSet } from '../protocol/commands/sequence-set.js';
import { flagList, joinParts, mailboxName, type Part } from '../protocol/response.js';
import { COMMANDS } from './commands.js';
import { replyForError } from './errors.js';
import type { Removed, SelectedMailbox } from './selected-mailbox.js';
import type { StructureCache } from './structure-cache.js';
import { bad, no, type Reply, type SessionState } from './types.js';

/**
 * One IMAP connection's session: the state machine (not authenticated → authenticated → selected
 * → logout), command dispatch to handlers/on-*.ts, and the unsolicited updates of the selected
 * mailbox. After sign-in the session holds the user's change feed; a pump records each change in
 * the selected mailbox (SelectedMailbox) and, while the client IDLEs, reports it at once; else it
 * is reported after the next command (NOOP included; NOOP and CHECK also ask the store: `catchUp`).
 * Responses are gathered and handed to the connection in one write when the session waits for the
 * client (before it reads the next command, IDLE's DONE, an AUTHENTICATE continuation), after a
 * report while idling, or once they pass OUTBOX_BYTES: a FETCH of 20 messages is one write, not 21.
 */

/** Responses gathered past this many bytes are written at once (a large FETCH streams, with the connection's back-pressure). */
const OUTBOX_BYTES = 64 * 1024;

/** The connection under a session (app.ts: a socket, STARTTLS, the command reader). */
export interface SessionIo {
  readonly ip: string;
  secure(): boolean;
  /** Resolves once the data is written or buffered below the high-water mark. */
  write(data: Buffer): Promise<void>;
  /** Upgrades the connection to TLS; bytes the client sent after STARTTLS in the clear are dropped. */
  startTls(): Promise<void>;
  /** COMPRESS=DEFLATE is on (RFC 4978). */
  compressed(): boolean;
  /** Turns DEFLATE on both ways, from the next byte read and written. */
  startCompression(): void;
  next(): Promise<Frame | null>;
  close(): void;
}

/** Counts signed-in connections per user (the per-user cap). */
export interface UserConnections {
  acquire(userId: number): boolean | Promise<boolean>;
  release(userId: number): void;
}

export interface SessionSettings {
  hostname: string;
  /** Allow LOGIN and AUTHENTICATE before TLS (IMAP_ALLOW_PLAINTEXT_AUTH; tests and trusted networks). */
  allowPlaintextAuth: boolean;
}

export interface SessionDeps {
  services: ImapServices;
  log: Logger;
  settings: SessionSettings;
  userConnections: UserConnections;
  /** The listener's ENVELOPE/BODYSTRUCTURE cache (structure-cache.ts), shared by its sessions. */
  structures: StructureCache;
  /** Told each command line read: its name, or null when it did not parse (metrics). */
  onCommand?(name: string | null): void;
}

const BASE_CAPABILITIES = ['IMAP4rev1', 'IMAP4rev2', 'LITERAL+', 'MULTIAPPEND', 'SASL-IR', 'ID', 'ENABLE', 'IDLE', 'NAMESPACE', 'UIDPLUS', 'MOVE', 'UNSELECT', 'CHILDREN', 'SPECIAL-USE', 'LIST-EXTENDED', 'LIST-STATUS', 'ESEARCH', 'SEARCHRES', 'STATUS=SIZE', 'CONDSTORE', 'QRESYNC', 'QUOTA', 'QUOTA=RES-STORAGE', 'SORT', 'SORT=DISPLAY', 'ESORT', 'THREAD=ORDEREDSUBJECT', 'THREAD=REFERENCES', 'COMPRESS=DEFLATE', 'BINARY'];

export const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

export class ImapSession {
  state: SessionState = 'not-authenticated';
  user: { userId: number; address: string } | null = null;
  selected: SelectedMailbox | null = null;
  /** CONDSTORE enabled (ENABLE, SELECT (CONDSTORE), or a MODSEQ item): FETCH responses carry MODSEQ. */
  condstore = false;
  /** QRESYNC enabled (ENABLE QRESYNC): expunges are reported as VANISHED. */
  qresync = false;
  /**
   * IMAP4rev2 enabled (ENABLE IMAP4rev2, RFC 9051): no \Recent and no RECENT, SEARCH answers
   * ESEARCH, SELECT ends with the mailbox's LIST, mailbox names are UTF-8.
   */
  rev2 = false;
  /** True while an IDLE command runs: the pump reports changes at once. */
  idling = false;
  /** STARTTLS was answered OK: upgrade before reading on. */
  tlsPending = false;
  /** COMPRESS DEFLATE was answered OK: compress from the next byte on. */
  compressionPending = false;
  private feed: ImapChangeFeed | null = null;
  /** The feed's items taken while a SELECT reads its mailbox (`holdEvents`), for the view it makes. */
  private held: { events: UserEvent[]; resync: boolean } | null = null;
  private closed = false;
  /** Serializes writes to the client (the pump and the command loop both write). */
  private writing: Promise<void> = Promise.resolve();
  /** Response parts not yet written (`flush`), each line with its CRLF; about `outboxBytes` long. */
  private outbox: Part[] = [];
  private outboxBytes = 0;
  private reporting: Promise<void> = Promise.resolve();
  readonly log: Logger;

  constructor(
    readonly io: SessionIo,
    readonly deps: SessionDeps,
  ) {
    this.log = deps.log;
  }

  get services(): ImapServices {
    return this.deps.services;
  }

  get userId(): number {
    if (!this.user) throw new Error('imap session: no user signed in');
    return this.user.userId;
  }

  capabilities(): string {
    const caps = [...BASE_CAPABILITIES];
    if (this.state === 'not-authenticated') {
      if (!this.io.secure()) caps.push('STARTTLS');
      if (this.io.secure() || this.deps.settings.allowPlaintextAuth) caps.push('AUTH=PLAIN');
      else caps.push('LOGINDISABLED');
    }
    return caps.join(' ');
  }

  /**
   * CONDSTORE turned on by a FETCH, STORE or SEARCH in the selected mailbox (RFC 7162 3.1): the
   * first such command also reports the mailbox's HIGHESTMODSEQ.
   */
  async enableCondstore(): Promise<void> {
    if (this.condstore) return;
    this.condstore = true;
    const selected = this.selected;
    if (!selected) return;
    const mailbox = (await this.services.mailboxes.list(this.userId)).find((m) => m.id === selected.id);
    const highest = Math.max(mailbox?.highestmodseq ?? 0, ...selected.rows().map((r) => r.modseq), 1);
    await this.send(`* OK [HIGHESTMODSEQ ${highest}] CONDSTORE enabled`);
  }

  /** A mailbox name as this session's client reads them: UTF-8 with IMAP4rev2, else modified UTF-7. */
  mailboxName(name: string): Part {
    return mailboxName(name, this.rev2);
  }

  /**
   * Adds one response line built from parts; it is written with the rest of the command's
   * responses (`flush`), or now when enough are gathered (then the promise waits for the connection).
   */
  send(...parts: Part[]): Promise<void> {
    for (const part of parts) {
      this.outbox.push(part);
      this.outboxBytes += part.length;
    }
    this.outbox.push('\r\n');
    this.outboxBytes += 2;
    return this.outboxBytes >= OUTBOX_BYTES ? this.flush() : Promise.resolve();
  }

  /** Writes what was gathered in one write; writes are kept in order. Resolves once written (or buffered below the connection's high-water mark). */
  flush(): Promise<void> {
    if (this.outbox.length > 0) {
      const data = joinParts(this.outbox);
      this.outbox = [];
      this.outboxBytes = 0;
      this.writing = this.writing.then(() => (this.closed ? undefined : this.io.write(data))).catch(() => undefined);
    }
    return this.writing;
  }

  /** The client's next frame, once every response so far is written. */
  async nextFrame(): Promise<Frame | null> {
    await this.flush();
    return this.io.next();
  }

  /** Runs the session until LOGOUT or the connection ends. */
  async run(): Promise<void> {
    await this.send(`* OK [CAPABILITY ${this.capabilities()}] ${this.deps.settings.hostname} Mailyard IMAP ready`);
    try {
      for (;;) {
        const frame = await this.nextFrame();
        if (!frame || this.closed) break;
        if (!(await this.handleFrame(frame))) break;
      }
    } finally {
      await this.end();
    }
  }

  /** One frame; false when the session is over. */
  private async handleFrame(frame: Frame): Promise<boolean> {
    if (frame.kind === 'fatal') {
      await this.send(`* BYE ${frame.reason === 'literal_too_big' ? 'Literal too big' : 'Line too long'}`);
      return false;
    }
    if (frame.kind === 'literal_too_big') {
      await this.send(`${frame.tag ?? '*'} NO [TOOBIG] Literal of ${frame.size} bytes is over the limit of ${frame.limit}`);
      return true;
    }
    let command;
    try {
      command = parseCommand(frame.raw);
    } catch (err) {
      if (err instanceof ImapParseError) {
        this.deps.onCommand?.(null);
        await this.send(`${err.tag ?? '*'} BAD ${err.message}`);
        return true;
      }
      throw err;
    }
    this.deps.onCommand?.(command.name);
    const handler = COMMANDS[command.name];
    let reply: Reply;
    if (!handler) reply = bad(`Unknown command ${command.name.slice(0, 30)}`);
    else if (!handler.states.includes(this.state)) reply = bad(`${command.name} is not allowed ${this.state === 'not-authenticated' ? 'before login' : handler.states.includes('selected') ? 'without a selected mailbox' : 'now'}`);
    else {
      try {
        reply = await handler.run(this, new Args(command.args, command.tag, this.rev2), command);
      } catch (err) {
        reply = err instanceof ImapParseError ? bad(err.message) : err instanceof InvalidMailboxNameError ? no(err.message, 'CANNOT') : replyForError(err, this.log, command.name);
      }
      if (this.state === 'selected' && reply.status !== 'BAD') await this.reportUpdates(handler.expungeAllowed !== false);
    }
    if (command.name === 'LOGOUT' && reply.status === 'OK') {
      await this.send(`${command.tag} OK LOGOUT completed`);
      return false;
    }
    await this.send(`${command.tag} ${reply.status}${reply.code ? ` [${reply.code}]` : ''} ${reply.text}`);
    // The OK of COMPRESS or STARTTLS goes out as it is, before the layer changes.
    if (this.compressionPending || this.tlsPending) await this.flush();
    if (this.compressionPending) {
      this.compressionPending = false;
      this.io.startCompression();
    }
    if (this.tlsPending) {
      this.tlsPending = false;
      try {
        await this.io.startTls();
      } catch (err) {
        this.log.info({ event: 'imap.starttls_failed', err: (err as Error).message });
        return false;
      }
    }
    return !this.closed;
  }

  /** Reports removed messages: `* n EXPUNGE` each, or one `* VANISHED uids` with QRESYNC on (RFC 7162 3.2.10). */
  async sendExpunges(removed: readonly Removed[]): Promise<void> {
    if (removed.length === 0) return;
    if (this.qresync) await this.send(`* VANISHED ${formatSequenceSet(removed.map((r) => r.uid))}`);
    else for (const { seq } of removed) await this.send(`* ${seq} EXPUNGE`);
  }

  /** Signs the user in: the per-user cap, then the change feed. Returns a refusal, or null when signed in. */
  async signIn(user: { userId: number; address: string }): Promise<Reply | null> {
    if (!(await this.deps.userConnections.acquire(user.userId))) return { status: 'NO', code: 'LIMIT', text: 'Too many connections for this user' };
    // A connection that closes meanwhile ends the session only after this command (app.ts), so `end` releases the slot.
    try {
      this.feed = await this.services.changes.open(user.userId);
    } catch (err) {
      this.deps.userConnections.release(user.userId);
      return replyForError(err, this.log, 'LOGIN');
    }
    this.user = user;
    this.state = 'authenticated';
    void this.pump(this.feed);
    return null;
  }

  /** Takes the feed's items into the selected mailbox; reopens the feed when it is lost. */
  private async pump(feed: ImapChangeFeed): Promise<void> {
    let lastModseq: number | undefined;
    for (;;) {
      const item = await feed.next();
      if (this.closed) return;
      if (!item) break;
      if (item.type === 'resync') this.resyncViews();
      else {
        this.selected?.apply(item.event);
        this.held?.events.push(item.event);
        if ('modseq' in item.event) lastModseq = item.event.modseq;
      }
      if (this.idling) {
        await this.reportUpdates(true);
        await this.flush();
      }
    }
    if (this.closed || !this.user) return;
    // 'lost' or 'overflow': reopen, and compare the selected mailbox as a whole.
    this.resyncViews();
    try {
      this.feed = await this.services.changes.open(this.user.userId, lastModseq);
      void this.pump(this.feed);
    } catch (err) {
      this.log.warn({ event: 'imap.feed_reopen_failed', err: (err as Error).message });
      await this.send('* BYE Temporary failure, please reconnect');
      await this.flush();
      this.io.close();
    }
  }

  private resyncViews(): void {
    this.selected?.resync();
    if (this.held) this.held.resync = true;
  }

  /**
   * SELECT/EXAMINE, before it reads the mailbox: from now the feed's items are kept for the view it
   * will make, so that a change that comes while it reads (after what the read found) is not lost.
   */
  holdEvents(): void {
    this.held = { events: [], resync: false };
  }

  /** Applies what was kept since `holdEvents` to the new view (null: none was made), and stops keeping. */
  releaseEvents(view: SelectedMailbox | null): void {
    const held = this.held;
    this.held = null;
    if (!held || !view) return;
    for (const event of held.events) view.apply(event);
    if (held.resync) view.resync();
  }

  /**
   * NOOP and CHECK, the client's poll: reads from the store what changed in the selected mailbox
   * since the view last caught up, for the report after the command. The feed alone would tell it
   * too, but a moment later: a change another session finished before this command began must be
   * in this command's report (a client that waits for one session's OK and then polls another), and
   * the feed's message may still be on its way. One indexed read of the change log. NOOP and CHECK
   * have no NO answer (RFC 3501): a failed read is logged, as a failed report is, and the feed's
   * changes are still reported.
   */
  async catchUp(): Promise<void> {
    const selected = this.selected;
    if (!selected || !this.user) return;
    let changed;
    try {
      changed = await this.services.messages.sync(this.user.userId, selected.id, { since: { lastUid: selected.lastUid, modseq: selected.caughtUpModseq }, claimRecent: false });
    } catch (err) {
      this.log.warn({ event: 'imap.catch_up_failed', err: (err as Error).message });
      return;
    }
    // New rows join the view at once unless reading them should claim \Recent (the report does that).
    if (this.selected === selected) selected.catchUp(changed, { takeNew: !this.claimsRecent(selected) });
  }

  /**
   * This session APPENDed to its selected mailbox: the written rows join the view (no read back),
   * unless the session claims \Recent as it reads new rows; then the next report reads and claims them.
   */
  noteOwnAppend(selected: SelectedMailbox, appended: ReadonlyArray<{ duplicate: boolean; row?: ImapMessageRow }>): void {
    if (this.claimsRecent(selected) || appended.some((a) => a.duplicate)) selected.expectNew();
    else selected.addAppended(appended.map((a) => a.row));
  }

  /** A read-write IMAP4rev1 session claims new messages as \Recent when it reads them (RFC 3501 2.3.2; IMAP4rev2 has no \Recent). */
  private claimsRecent(selected: SelectedMailbox): boolean {
    return !selected.readOnly && !this.rev2;
  }

  /** Reports what changed in the selected mailbox (EXPUNGE, EXISTS, FETCH FLAGS); one report at a time. */
  reportUpdates(allowExpunge: boolean): Promise<void> {
    this.reporting = this.reporting.then(() => this.report(allowExpunge));
    return this.reporting;
  }

  private async report(allowExpunge: boolean): Promise<void> {
    const selected = this.selected;
    if (!selected || !this.user) return;
    const userId = this.user.userId;
    // New messages: a read-write IMAP4rev1 session claims them as \Recent (unless another one did
    // first), in the same round trip as it lists them.
    const claiming = this.claimsRecent(selected);
    let firstRecent: number | null = null;
    const load = async (afterUid: number) => {
      if (!claiming) return this.services.messages.list(userId, selected.id, afterUid);
      const listed = await this.services.messages.listClaimingRecent(userId, selected.id, afterUid);
      firstRecent = listed.firstRecent;
      return listed.rows;
    };
    let updates;
    try {
      updates = await selected.takeUpdates(load, allowExpunge);
    } catch (err) {
      this.log.warn({ event: 'imap.update_failed', err: (err as Error).message });
      return;
    }
    if (this.selected !== selected) return;
    await this.sendExpunges(updates.expunged);
    if (updates.exists !== null) {
      await this.send(`* ${updates.exists} EXISTS`);
      if (firstRecent !== null) {
        const before = selected.recentCount;
        const recent = selected.markRecent(firstRecent);
        if (recent !== before) await this.send(`* ${recent} RECENT`);
      }
    }
    for (const row of updates.flags) {
      const seq = selected.seqOf(row.uid);
      if (seq > 0) await this.send(`* ${seq} FETCH (UID ${row.uid} FLAGS ${flagList(selected.flagsOf(row))}${this.condstore ? ` MODSEQ (${row.modseq})` : ''})`);
    }
  }

  /** Ends the session: releases the feed and the per-user slot, closes the connection. */
  async end(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    this.feed?.close();
    if (this.user) this.deps.userConnections.release(this.user.userId);
    this.io.close();
  }
}
