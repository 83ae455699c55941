import { createClientAuthService, type ClientAuthService, type SignInFailureRules } from '../auth/authenticate.js';
import type { RateLimiter } from '../auth/rate-limit.js';
import type { Db } from '../db/client.js';
import type { SpecialUse } from '../db/schema.js';
import { AppError } from '../errors.js';
import { openChangeFeed, readReplay, type ChangeFeed } from '../events/change-feed.js';
import type { EventPublisher } from '../events/publisher.js';
import type { UserEventHub } from '../events/user-event-hub.js';
import type { Logger } from '../log/logger.js';
import { copyMessages, deleteMailbox, expungeMessages, setFlags, writeMailboxes } from '../mail/mailbox-writer/index.js';
import type { AppendInput, AppendResult, CopyResult, DeletedMessage, FlagChange, FlaggedMessage, MoveResult } from '../mail/mailbox-writer/mailbox-write.js';
import { loadMessageBytes } from '../mail/message-content.js';
import { learnFromTransfers, type SpamLearnDeps } from '../mail/spam/learn.js';
import { summarizeMessage } from '../mail/parse.js';
import { createChangeRepository } from '../repositories/change.repository.js';
import { createImapRepository, type ImapMessageRow, type ImapSortFields, type ImapTextField } from '../repositories/imap.repository.js';
import { createMailboxRepository, type MailboxRow } from '../repositories/mailbox.repository.js';
import { createUserRepository } from '../repositories/user.repository.js';
import { KeyedBatcher } from '../util/keyed-batcher.js';
import { TextSearchCache } from './text-search-cache.js';

/**
 * The narrow services the IMAP server stands on (imap-server/src/handlers), and core's
 * implementations of them over the mailbox writer, the change feed, `authenticateClient` ('imap'
 * channel) and the message loader. Protocol code never holds a database handle: its transcript
 * tests run the handlers on in-memory fakes of these (tests/helpers/imap-fakes.ts).
 * Mailbox names here are the stored (Unicode) names; the wire's modified UTF-7 is the protocol's.
 */

export type { ImapMessageRow, ImapSortFields, ImapTextField } from '../repositories/imap.repository.js';

export interface ImapMailboxInfo {
  id: number;
  name: string;
  specialUse: SpecialUse | null;
  uidvalidity: number;
  uidnext: number;
  highestmodseq: number;
  messages: number;
  unseen: number;
  size: number;
}

export interface ImapAppendInput {
  raw: Buffer;
  flags: readonly string[];
  internalDate?: Date;
  /** The zone `internalDate` was given in, minutes east of UTC (INTERNALDATE answers in it; SEARCH BEFORE/ON/SINCE take its calendar day). */
  internalDateZone?: number;
}

/** One APPENDed message: its UID, and the row as written (`row`; absent when it was already in Sent: `duplicate`). */
export interface ImapAppended {
  uid: number;
  duplicate: boolean;
  row?: ImapMessageRow;
}

export interface ImapMailboxes {
  list(userId: number): Promise<ImapMailboxInfo[]>;
  /** The user's storage (IMAP QUOTA, RFC 9208): bytes stored and the quota (null: none). */
  usage(userId: number): Promise<{ usedBytes: number; quotaBytes: number | null }>;
  /** By name (INBOX in any case); null when the user has none such. */
  find(userId: number, name: string): Promise<ImapMailboxInfo | null>;
  /** Not subscribed (the client subscribes). Writer errors: 409 'mailbox.exists', 400 'mailbox.name_invalid'. */
  create(userId: number, name: string): Promise<void>;
  /**
   * Renames a folder and its subfolders (`A/B` goes with `A`) in one write. Errors: 404
   * 'mailbox.not_found', 403 'mailbox.protected', 409 'mailbox.exists', 400 'mailbox.name_invalid'
   * (into its own subfolder).
   */
  rename(userId: number, mailboxId: number, name: string): Promise<void>;
  remove(userId: number, mailboxId: number): Promise<void>;
  /** The subscribed folder names (a deleted folder's name stays subscribed until UNSUBSCRIBE). */
  subscriptions(userId: number): Promise<string[]>;
  subscribe(userId: number, name: string): Promise<void>;
  /** False when the name was not subscribed. */
  unsubscribe(userId: number, name: string): Promise<boolean>;
}

/** What SELECT and EXAMINE read: see `ImapMessages.sync`. */
export interface ImapSync {
  rows: ImapMessageRow[];
  gone: number[] | null;
  total: number;
  modseq: number;
  firstRecent: number | null;
}

export interface ImapMessages {
  /** The mailbox's messages above a UID (0: all) by ascending UID (a session's seq↔uid map). */
  list(userId: number, mailboxId: number, afterUid?: number): Promise<ImapMessageRow[]>;
  /** The full message as served (RFC822.SIZE bytes). */
  content(userId: number, messageId: number): Promise<Buffer>;
  /** Several messages as served, in one query (FETCH of a range); a message gone meanwhile is absent. */
  contents(userId: number, messageIds: readonly number[]): Promise<Map<number, Buffer>>;
  setFlags(userId: number, messageIds: readonly number[], change: FlagChange): Promise<FlaggedMessage[]>;
  copy(userId: number, messageIds: readonly number[], mailboxId: number): Promise<CopyResult>;
  /** Into the messages' own mailbox too: they get new UIDs there (RFC 6851), nothing is left `unchanged`. */
  move(userId: number, messageIds: readonly number[], mailboxId: number): Promise<MoveResult>;
  /** Removes the messages flagged \Deleted (only those with these UIDs, when given). */
  expunge(userId: number, mailboxId: number, uids?: readonly number[]): Promise<DeletedMessage[]>;
  /**
   * Adds messages (one APPEND, or several with MULTIAPPEND, RFC 3502) through the writer, all in
   * one transaction: all are added or none. To Sent, a message whose Message-ID is already there
   * is not added again: the existing copy's UID is answered (the user's submission made that copy).
   * Throws 'quota.exceeded' (as COPY does) when they would take the user over their quota.
   * `mailbox`: its id (looked up), or the mailbox as the caller has just read it (the handler's
   * `find`: no second lookup; a mailbox deleted meanwhile still fails in the writer).
   */
  append(userId: number, mailbox: number | Pick<ImapMailboxInfo, 'id' | 'specialUse' | 'uidvalidity'>, inputs: readonly ImapAppendInput[]): Promise<{ uidvalidity: number; appended: ImapAppended[] }>;
  /**
   * `list`, and \Recent: claims the messages from the first recent UID up to the last one listed
   * for the calling session (the reports of new messages to a read-write IMAP4rev1 session), in
   * one round trip; `firstRecent` is the first recent UID as it was (the caller's recent messages
   * are those at or above it), null when the mailbox is gone.
   */
  listClaimingRecent(userId: number, mailboxId: number, afterUid?: number): Promise<{ rows: ImapMessageRow[]; firstRecent: number | null }>;
  /**
   * SELECT and EXAMINE, in one statement. Without `since`: every message of the mailbox (`gone`
   * null). With `since` (a view of the mailbox the session has, with every change up to
   * `since.modseq` and UIDs up to `since.lastUid`): what changed since, from the change log — the
   * UIDs up to `lastUid` that left (`gone`), the rows above it or changed after the modseq, and
   * `total`, how many messages the mailbox has (the refreshed view must have as many); `gone` null
   * when too much changed to say (read the whole mailbox). `modseq`: every change up to it is in the
   * answer. `firstRecent` as `listClaimingRecent` (claimed only with `claimRecent`), null when the
   * mailbox is gone.
   */
  sync(userId: number, mailboxId: number, options: { since?: { lastUid: number; modseq: number }; claimRecent: boolean }): Promise<ImapSync>;
  /** The first recent UID and how many messages are recent (STATUS RECENT). */
  recent(userId: number, mailboxId: number): Promise<{ firstUid: number; count: number }>;
  /**
   * UIDs of the mailbox's messages whose `field` contains `text`, case-insensitively, ascending;
   * with `upToUid` (the highest UID the session knows), only those up to it: the answer is then
   * remembered, and the same search later reads only the messages that arrived since.
   */
  searchText(userId: number, mailboxId: number, field: ImapTextField, text: string, upToUid?: number): Promise<number[]>;
  /** Subject, first From/To/Cc address and message ids of each of the mailbox's messages, for SORT and THREAD. */
  sortFields(userId: number, mailboxId: number): Promise<ImapSortFields[]>;
}

/** What a session takes from the user's change feed (core's ChangeFeed, narrowed). */
export type ImapChangeFeed = Pick<ChangeFeed, 'next' | 'close'>;

export interface ImapChanges {
  /** The user's change feed, live from now (`since` undefined) or replayed after `since`. */
  open(userId: number, since?: number): Promise<ImapChangeFeed>;
  /**
   * QRESYNC: the UIDs that left the mailbox (expunged or moved out) after modseq `since`, from the
   * change log; null when the log no longer covers that far back.
   */
  vanishedSince(userId: number, mailboxId: number, since: number): Promise<number[] | null>;
}

export interface ImapServices {
  /** `authenticateClient` for the `imap` channel: app passwords allowed; with TOTP on, only they. */
  auth: ClientAuthService;
  mailboxes: ImapMailboxes;
  messages: ImapMessages;
  changes: ImapChanges;
}

export interface ImapServiceDeps {
  db: Db;
  events: EventPublisher;
  limiter: RateLimiter;
  hub: UserEventHub;
  log: Logger;
  authRules?: SignInFailureRules;
  /** Learn requests for the spam engine: MOVE and COPY into and out of Junk teach it (absent: nothing is learned). */
  spamLearn?: SpamLearnDeps;
}

/** IMAP's hierarchy delimiter: folder `A/B` is a subfolder of `A`. */
const HIERARCHY_DELIMITER = '/';

/** Beyond this many missed changes a reopened feed says `resync` (the session then reloads its mailbox). */
const MAX_REPLAY = 10_000;
/** A SELECT that would read more changes than this (of all the user's folders) reads the whole mailbox instead. */
const MAX_REFRESH_CHANGES = 2_000;

function toInfo(m: MailboxRow): ImapMailboxInfo {
  return { id: m.id, name: m.name, specialUse: m.specialUse, uidvalidity: m.uidvalidity, uidnext: m.uidnext, highestmodseq: m.highestmodseq, messages: m.messageCount, unseen: m.unseenCount, size: m.totalBytes };
}

/**
 * APPENDs up to this many bytes go through the group commit; a larger one is written at once in
 * its own transaction: its cost is its bytes, not the transaction, and it must not hold up the
 * small ones behind it (nor use only one PostgreSQL backend for every user's uploads).
 */
const GROUP_APPEND_MAX_BYTES = 64 * 1024;
/** SEARCH text answers remembered per process (text-search-cache.ts): UIDs held, 8 bytes each (~8 MB with the lists themselves). */
const TEXT_SEARCH_CACHE_UIDS = 1_000_000;
/** Longer search texts are not remembered (nor used as a key). */
const TEXT_SEARCH_CACHE_MAX_TEXT = 256;

/** One APPEND (or MULTIAPPEND) command's new messages, for the group commit. */
interface PendingAppend {
  userId: number;
  inputs: AppendInput[];
}

/** The IMAP services on the real store, Redis event publisher, limiter and event hub. */
export function createImapServices(deps: ImapServiceDeps): ImapServices {
  const writer = { db: deps.db, events: deps.events, log: deps.log, afterTransfer: deps.spamLearn && learnFromTransfers(deps.spamLearn) };
  /** APPENDs of any users in one writer transaction (MailboxWrite.appendMany: a fixed number of statements however many). */
  const writeAppends = (batch: PendingAppend[]): Promise<AppendResult[][]> => {
    const reserve = new Map<number, number>();
    for (const { userId, inputs } of batch) reserve.set(userId, (reserve.get(userId) ?? 0) + inputs.length);
    // The user's own action: refused (NO [OVERQUOTA]) unless it fits in their quota.
    return writeMailboxes(writer, [...reserve.keys()], (w) => w.appendMany(batch, { enforceQuota: true }), reserve);
  };
  // Group commit of small APPENDs: those of every session that arrive while one is being written
  // go into the next transaction together. Each APPEND stays all-or-nothing: when a batch fails
  // (one user over quota, a mailbox deleted meanwhile), the KeyedBatcher writes its APPENDs one by
  // one, so only the bad one fails, with its own error.
  const appends = new KeyedBatcher<'append', PendingAppend, AppendResult[]>((_key, batch) => writeAppends(batch));
  const mailboxRepo = createMailboxRepository(deps.db);
  const imapRepo = createImapRepository(deps.db);
  const textSearches = new TextSearchCache({ maxUids: TEXT_SEARCH_CACHE_UIDS });
  const changes = createChangeRepository(deps.db);
  return {
    auth: createClientAuthService({ db: deps.db, limiter: deps.limiter, rules: deps.authRules }, 'imap'),
    mailboxes: {
      list: async (userId) => (await mailboxRepo.list(userId)).map(toInfo),
      usage: async (userId) => (await createUserRepository(deps.db).usage(userId)) ?? { usedBytes: 0, quotaBytes: null },
      async find(userId, name) {
        const found = await mailboxRepo.findByName(userId, name);
        return found ? toInfo(found) : null;
      },
      async create(userId, name) {
        // Folders made elsewhere (new users' defaults, the webmail) start subscribed (migration
        // 0012); an IMAP client subscribes what it creates itself (RFC 3501: CREATE does not).
        await writeMailboxes(writer, [userId], async (write) => {
          const subscriptions = createImapRepository(write.tx);
          const wasSubscribed = (await subscriptions.listSubscriptions(userId)).includes(name);
          const created = await write.createMailbox(userId, name);
          if (!wasSubscribed) await subscriptions.unsubscribe(userId, created.name);
        });
      },
      async rename(userId, mailboxId, name) {
        const all = await mailboxRepo.list(userId);
        const mailbox = all.find((m) => m.id === mailboxId);
        if (!mailbox) throw new AppError('mailbox.not_found', 'no such mailbox', 404);
        const prefix = `${mailbox.name}${HIERARCHY_DELIMITER}`;
        if (name.startsWith(prefix)) throw new AppError('mailbox.name_invalid', 'a folder cannot be moved into its own subfolder', 400);
        const children = all.filter((m) => m.name.startsWith(prefix));
        await writeMailboxes(writer, [userId], async (write) => {
          await write.renameMailbox(userId, mailboxId, name);
          for (const child of children) await write.renameMailbox(userId, child.id, `${name}${child.name.slice(mailbox.name.length)}`);
        });
      },
      async remove(userId, mailboxId) {
        await deleteMailbox(writer, userId, mailboxId);
      },
      subscriptions: (userId) => imapRepo.listSubscriptions(userId),
      subscribe: (userId, name) => imapRepo.subscribe(userId, name),
      unsubscribe: (userId, name) => imapRepo.unsubscribe(userId, name),
    },
    messages: {
      list: (userId, mailboxId, afterUid) => imapRepo.listMessages(userId, mailboxId, afterUid),
      content: (userId, messageId) => loadMessageBytes(deps.db, userId, messageId),
      contents: (userId, messageIds) => imapRepo.messageBytes(userId, messageIds),
      setFlags: (userId, ids, change) => setFlags(writer, userId, ids, change),
      copy: (userId, ids, mailboxId) => copyMessages(writer, userId, ids, mailboxId),
      move: (userId, ids, mailboxId) =>
        writeMailboxes(writer, [userId], async (write) => {
          const result = await write.move(userId, ids, mailboxId);
          if (result.unchanged.length === 0) return result;
          // RFC 6851: a MOVE into the message's own mailbox gives it a new UID (a copy, then the original removed).
          const flags = new Map(result.unchanged.map((u) => [u.id, u.flags]));
          const { copied } = await write.copy(userId, result.unchanged.map((u) => u.id), mailboxId);
          await write.remove(userId, result.unchanged.map((u) => u.id));
          const again = copied.map((c) => ({ id: c.id, fromMailboxId: mailboxId, fromUid: c.sourceUid, mailboxId, uid: c.uid, modseq: c.modseq, flags: flags.get(c.sourceId) ?? [] }));
          return { target: result.target, moved: [...result.moved, ...again], unchanged: [] };
        }),
      expunge: (userId, mailboxId, uids) => expungeMessages(writer, userId, mailboxId, uids),
      async append(userId, target, inputs) {
        const mailbox = typeof target === 'number' ? await mailboxRepo.get(userId, target) : target;
        if (!mailbox) throw new AppError('mailbox.not_found', 'no such mailbox', 404);
        const appended: Array<ImapAppended | null> = [];
        const fresh: AppendInput[] = [];
        for (const input of inputs) {
          const summary = await summarizeMessage(input.raw);
          const existing = mailbox.specialUse === '\\Sent' && summary.messageId ? await imapRepo.findByMessageIdHeader(userId, mailbox.id, summary.messageId) : null;
          if (existing) appended.push({ uid: existing.uid, duplicate: true });
          else {
            appended.push(null);
            fresh.push({ mailbox: { id: mailbox.id }, content: { raw: input.raw }, summary, flags: input.flags, internalDate: input.internalDate, internalDateZone: input.internalDateZone });
          }
        }
        const pending = { userId, inputs: fresh };
        const bytes = fresh.reduce((n, f) => n + ('raw' in f.content ? f.content.raw.length : f.content.size), 0);
        const added = fresh.length === 0 ? [] : bytes <= GROUP_APPEND_MAX_BYTES ? await appends.add('append', pending) : (await writeAppends([pending]))[0]!;
        let next = 0;
        const asAppended = ({ messageId, uid, modseq, stored }: AppendResult): ImapAppended => ({ uid, duplicate: false, ...(stored ? { row: { id: messageId, uid, modseq, ...stored } } : {}) });
        return { uidvalidity: mailbox.uidvalidity, appended: appended.map((a) => a ?? asAppended(added[next++]!)) };
      },
      listClaimingRecent: (userId, mailboxId, afterUid) => imapRepo.listClaimingRecent(userId, mailboxId, afterUid),
      async sync(userId, mailboxId, { since, claimRecent }) {
        if (since) return imapRepo.refreshView(userId, mailboxId, { afterUid: since.lastUid, changedSince: since.modseq, claimRecent, maxChanges: MAX_REFRESH_CHANGES });
        const read = await imapRepo.syncMessages(userId, mailboxId, { claimRecent });
        return { ...read, gone: null, total: read.rows.length };
      },
      recent: (userId, mailboxId) => imapRepo.recent(userId, mailboxId),
      searchText(userId, mailboxId, field, text, upToUid) {
        if (upToUid === undefined || text.length > TEXT_SEARCH_CACHE_MAX_TEXT) return imapRepo.uidsMatchingText(userId, mailboxId, field, text);
        return textSearches.search(`${userId} ${mailboxId} ${field} ${text}`, upToUid, (after, upTo) => imapRepo.uidsMatchingText(userId, mailboxId, field, text, { after, upTo }));
      },
      sortFields: (userId, mailboxId) => imapRepo.sortFields(userId, mailboxId),
    },
    changes: {
      open: (userId, since) => openChangeFeed({ hub: deps.hub, changes, log: deps.log }, userId, { since, maxReplay: MAX_REPLAY }),
      async vanishedSince(userId, mailboxId, since) {
        const replay = await readReplay({ changes, log: deps.log }, userId, since, MAX_REPLAY);
        if (replay.type === 'resync') return null;
        return replay.events.flatMap((e) => (e.type === 'message.deleted' && e.mailboxId === mailboxId ? [e.uid] : e.type === 'message.moved' && e.fromMailboxId === mailboxId ? [e.fromUid] : []));
      },
    },
  };
}
