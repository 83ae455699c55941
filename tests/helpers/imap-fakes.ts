import { AppError, summarizeMessage, type FeedItem, type ImapChangeFeed, type ImapMailboxInfo, type ImapMessageRow, type ImapServices, type SpecialUse, type UserEvent } from '../../core/src/index.js';

/**
 * In-memory fakes of the IMAP protocol services (core/src/protocol-services/imap.ts) for the
 * handlers' transcript tests: one user store with the writer's observable rules (UIDs and one
 * modseq per change, UNCHANGEDSINCE conflicts, the Sent de-duplication, folder errors as core's
 * AppError codes) and a change feed that delivers every change to every open feed.
 */

interface FakeMessage extends ImapMessageRow {
  mailboxId: number;
  raw: Buffer;
  messageIdHeader: string | null;
}

interface FakeMailbox {
  id: number;
  name: string;
  specialUse: SpecialUse | null;
  uidvalidity: number;
  uidnext: number;
  highestmodseq: number;
  /** \Recent: messages at or above this UID are recent for the session that claims them. */
  firstRecentUid: number;
}

class FakeFeed implements ImapChangeFeed {
  private queue: FeedItem[] = [];
  private waiter: (() => void) | null = null;
  private closed = false;
  constructor(private readonly onClose: () => void) {}
  push(event: UserEvent): void {
    this.queue.push({ type: 'event', event, replayed: false });
    this.wake();
  }
  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
  async next(): Promise<FeedItem | null> {
    for (;;) {
      if (this.closed) return null;
      const item = this.queue.shift();
      if (item) return item;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
    this.wake();
  }
}

export interface FakeImapStore {
  services: ImapServices;
  userId: number;
  /** Adds a message as delivery would (another client's change: the feed reports it). */
  deliver(mailboxName: string, raw: string | Buffer, options?: { flags?: string[]; internalDate?: Date }): { uid: number; id: number };
  /** Sets flags as another client would. */
  setFlagsElsewhere(mailboxName: string, uid: number, flags: string[]): void;
  mailbox(name: string): FakeMailbox;
  messages(name: string): FakeMessage[];
  openFeeds(): number;
  /** The feed is late: changes are logged but reach open feeds only at `releaseFeeds` (a slow Redis). */
  holdFeeds: boolean;
  releaseFeeds(): void;
  /** Make every service call fail (an infrastructure failure). */
  failing: boolean;
  /** The user's storage quota in bytes (null: none); usage is the sum of the messages' sizes. */
  quotaBytes: number | null;
}

const USER_ID = 7;

export function createFakeImapStore(options: { address?: string; password?: string } = {}): FakeImapStore {
  const address = options.address ?? 'alice@a.test';
  const password = options.password ?? 'secret';
  let modseq = 100;
  let nextMailboxId = 1;
  let nextMessageId = 1;
  const mailboxes: FakeMailbox[] = [];
  /** As the store: new folders are subscribed, a rename carries the subscription. */
  const subscriptions = new Set<string>();
  const messages: FakeMessage[] = [];
  const feeds = new Set<FakeFeed>();
  const addMailbox = (name: string, specialUse: SpecialUse | null) => {
    const m = { id: nextMailboxId++, name, specialUse, uidvalidity: 1000 + nextMailboxId, uidnext: 1, highestmodseq: 0, firstRecentUid: 1 };
    mailboxes.push(m);
    subscriptions.add(name);
    return m;
  };
  for (const [name, use] of [['INBOX', '\\Inbox'], ['Drafts', '\\Drafts'], ['Sent', '\\Sent'], ['Archive', '\\Archive'], ['Junk', '\\Junk'], ['Trash', '\\Trash']] as const) addMailbox(name, use);

  const held: UserEvent[] = [];
  const releaseFeeds = () => {
    store.holdFeeds = false;
    for (const event of held.splice(0)) for (const feed of feeds) feed.push(event);
  };
  const store: FakeImapStore = { services: null as unknown as ImapServices, userId: USER_ID, failing: false, quotaBytes: null, holdFeeds: false, releaseFeeds, deliver, setFlagsElsewhere, mailbox, messages: (name) => messages.filter((m) => m.mailboxId === mailbox(name).id), openFeeds: () => feeds.size };

  /** Every change, as the store's change log keeps it (QRESYNC's VANISHED reads it). */
  const changeLog: UserEvent[] = [];
  function publish(event: UserEvent): void {
    changeLog.push(event);
    if (store.holdFeeds) held.push(event);
    else for (const feed of feeds) feed.push(event);
  }
  /** The UIDs that left the mailbox (expunged or moved out) after modseq `since`, from the change log. */
  function vanished(mailboxId: number, since: number): number[] {
    return changeLog.flatMap((e) => ('modseq' in e && e.modseq <= since ? [] : e.type === 'message.deleted' && e.mailboxId === mailboxId ? [e.uid] : e.type === 'message.moved' && e.fromMailboxId === mailboxId ? [e.fromUid] : []));
  }
  function check(userId: number): void {
    if (store.failing) throw new Error('store unavailable');
    if (userId !== USER_ID) throw new AppError('message.not_found', 'no such message', 404);
  }
  function mailbox(name: string): FakeMailbox {
    const found = mailboxes.find((m) => m.name === name);
    if (!found) throw new Error(`no mailbox ${name}`);
    return found;
  }
  function byId(id: number): FakeMailbox {
    const found = mailboxes.find((m) => m.id === id);
    if (!found) throw new AppError('mailbox.not_found', 'no such mailbox', 404);
    return found;
  }
  function info(m: FakeMailbox): ImapMailboxInfo {
    const inside = messages.filter((x) => x.mailboxId === m.id);
    return { id: m.id, name: m.name, specialUse: m.specialUse, uidvalidity: m.uidvalidity, uidnext: m.uidnext, highestmodseq: m.highestmodseq, messages: inside.length, unseen: inside.filter((x) => !x.flags.includes('\\Seen')).length, size: inside.reduce((s, x) => s + x.size, 0) };
  }
  function row(m: FakeMessage): ImapMessageRow {
    return { id: m.id, uid: m.uid, modseq: m.modseq, flags: [...m.flags], internalDate: m.internalDate, internalDateZone: m.internalDateZone, size: m.size, sentDate: m.sentDate };
  }
  function add(box: FakeMailbox, raw: Buffer, flags: string[], internalDate?: Date, internalDateZone = 0): FakeMessage {
    const m: FakeMessage = {
      id: nextMessageId++,
      mailboxId: box.id,
      uid: box.uidnext++,
      modseq: ++modseq,
      flags,
      internalDate: internalDate ?? new Date('2026-11-23T09:00:00Z'),
      internalDateZone,
      size: raw.length,
      sentDate: null,
      raw,
      messageIdHeader: /^Message-ID:\s*(\S+)/im.exec(raw.toString('latin1'))?.[1] ?? null,
    };
    box.highestmodseq = m.modseq;
    messages.push(m);
    publish({ type: 'message.new', modseq: m.modseq, mailboxId: box.id, messageId: m.id, uid: m.uid, threadId: m.id });
    return m;
  }
  function find(ids: readonly number[]): FakeMessage[] {
    const found = ids.map((id) => messages.find((m) => m.id === id));
    if (found.some((m) => !m)) throw new AppError('message.not_found', 'no such message', 404);
    return found as FakeMessage[];
  }
  /** Mail for the test to start from: already seen by an earlier session, so not \Recent. */
  function deliver(name: string, raw: string | Buffer, opts: { flags?: string[]; internalDate?: Date } = {}) {
    const box = mailbox(name);
    const m = add(box, Buffer.isBuffer(raw) ? raw : Buffer.from(raw), opts.flags ?? [], opts.internalDate);
    box.firstRecentUid = box.uidnext;
    return { uid: m.uid, id: m.id };
  }
  function setFlagsElsewhere(name: string, uid: number, flags: string[]) {
    const m = messages.find((x) => x.mailboxId === mailbox(name).id && x.uid === uid)!;
    m.flags = flags;
    m.modseq = ++modseq;
    publish({ type: 'message.flags', modseq: m.modseq, mailboxId: m.mailboxId, messageId: m.id, uid: m.uid, flags });
  }
  function validName(name: string): string {
    if (name.trim() === '' || /[*%]/.test(name)) throw new AppError('mailbox.name_invalid', 'invalid folder name', 400);
    if (mailboxes.some((m) => m.name === name)) throw new AppError('mailbox.exists', 'exists', 409);
    return name;
  }

  store.services = {
    auth: {
      async authenticate(credentials) {
        if (store.failing) throw new Error('store unavailable');
        if (credentials.username === 'limited@a.test') return { kind: 'limited', by: 'account', retryAfterSeconds: 60 };
        if (credentials.username.toLowerCase() === address && credentials.password === password) return { kind: 'ok', user: { userId: USER_ID, address, role: 'user', totpEnabled: false }, totpRequired: false };
        return { kind: 'invalid' };
      },
    },
    mailboxes: {
      async list(userId) {
        check(userId);
        return mailboxes.map(info);
      },
      async usage(userId) {
        check(userId);
        return { usedBytes: messages.reduce((sum, m) => sum + m.raw.length, 0), quotaBytes: store.quotaBytes };
      },
      async find(userId, name) {
        check(userId);
        const m = mailboxes.find((x) => (name.toUpperCase() === 'INBOX' ? x.specialUse === '\\Inbox' : x.name === name));
        return m ? info(m) : null;
      },
      async create(userId, name) {
        check(userId);
        addMailbox(validName(name), null);
        subscriptions.delete(name);
      },
      async rename(userId, mailboxId, name) {
        check(userId);
        const m = byId(mailboxId);
        if (m.specialUse) throw new AppError('mailbox.protected', 'protected', 403);
        const from = m.name;
        validName(name);
        for (const box of mailboxes.filter((x) => x === m || x.name.startsWith(`${from}/`))) {
          const renamed = `${name}${box.name.slice(from.length)}`;
          if (subscriptions.delete(box.name)) subscriptions.add(renamed);
          box.name = renamed;
        }
      },
      async remove(userId, mailboxId) {
        check(userId);
        const m = byId(mailboxId);
        if (m.specialUse) throw new AppError('mailbox.protected', 'protected', 403);
        mailboxes.splice(mailboxes.indexOf(m), 1);
      },
      async subscriptions(userId) {
        check(userId);
        return [...subscriptions].sort();
      },
      async subscribe(userId, name) {
        check(userId);
        subscriptions.add(name);
      },
      async unsubscribe(userId, name) {
        check(userId);
        return subscriptions.delete(name);
      },
    },
    messages: {
      async list(userId, mailboxId, afterUid = 0) {
        check(userId);
        return messages.filter((m) => m.mailboxId === mailboxId && m.uid > afterUid).sort((a, b) => a.uid - b.uid).map(row);
      },
      async content(userId, messageId) {
        check(userId);
        return find([messageId])[0]!.raw;
      },
      async contents(userId, messageIds) {
        check(userId);
        return new Map(messages.filter((m) => messageIds.includes(m.id)).map((m) => [m.id, m.raw]));
      },
      async setFlags(userId, ids, change) {
        check(userId);
        return find(ids).map((m) => {
          if (change.unchangedSince !== undefined && m.modseq > change.unchangedSince) return { id: m.id, mailboxId: m.mailboxId, uid: m.uid, modseq: m.modseq, flags: m.flags, changed: false, conflict: true };
          for (const f of [...(change.add ?? []), ...(change.remove ?? []), ...(change.replace ?? [])]) if (/^\\(?!(Seen|Answered|Flagged|Deleted|Draft)$)/i.test(f)) throw new AppError('flags.invalid', `${f} is not a flag that can be stored`, 400);
          const next = change.replace ? [...change.replace] : [...m.flags.filter((f) => !(change.remove ?? []).includes(f)), ...(change.add ?? []).filter((f) => !m.flags.includes(f))];
          const changed = next.length !== m.flags.length || next.some((f) => !m.flags.includes(f));
          if (changed) {
            m.flags = next;
            m.modseq = ++modseq;
            byId(m.mailboxId).highestmodseq = m.modseq;
            publish({ type: 'message.flags', modseq: m.modseq, mailboxId: m.mailboxId, messageId: m.id, uid: m.uid, flags: next });
          }
          return { id: m.id, mailboxId: m.mailboxId, uid: m.uid, modseq: m.modseq, flags: [...m.flags], changed };
        });
      },
      async copy(userId, ids, mailboxId) {
        check(userId);
        const target = byId(mailboxId);
        const copied = find(ids)
          .sort((a, b) => a.uid - b.uid)
          .map((m) => {
            const c = add(target, m.raw, [...m.flags], m.internalDate, m.internalDateZone);
            return { sourceId: m.id, sourceUid: m.uid, id: c.id, uid: c.uid, modseq: c.modseq };
          });
        return { target: { id: target.id, uidvalidity: target.uidvalidity }, copied };
      },
      async move(userId, ids, mailboxId) {
        check(userId);
        const target = byId(mailboxId);
        const moved = find(ids)
          .sort((a, b) => a.uid - b.uid)
          .map((m) => {
            const fromMailboxId = m.mailboxId;
            const fromUid = m.uid;
            m.mailboxId = target.id;
            m.uid = target.uidnext++;
            m.modseq = ++modseq;
            publish({ type: 'message.moved', modseq: m.modseq, messageId: m.id, fromMailboxId, fromUid, mailboxId: target.id, uid: m.uid });
            return { id: m.id, fromMailboxId, fromUid, mailboxId: target.id, uid: m.uid, modseq: m.modseq, flags: m.flags };
          });
        return { target: { id: target.id, uidvalidity: target.uidvalidity }, moved, unchanged: [] };
      },
      async expunge(userId, mailboxId, uids) {
        check(userId);
        const gone = messages.filter((m) => m.mailboxId === mailboxId && m.flags.includes('\\Deleted') && (!uids || uids.includes(m.uid)));
        return gone.map((m) => {
          messages.splice(messages.indexOf(m), 1);
          const deleted = { id: m.id, mailboxId, uid: m.uid, modseq: ++modseq };
          publish({ type: 'message.deleted', modseq: deleted.modseq, mailboxId, messageId: m.id, uid: m.uid });
          return deleted;
        });
      },
      async append(userId, mailbox, inputs) {
        check(userId);
        const box = byId(typeof mailbox === 'number' ? mailbox : mailbox.id);
        const appended = inputs.map((input) => {
          const messageId = /^Message-ID:\s*(\S+)/im.exec(input.raw.toString('latin1'))?.[1];
          const existing = box.specialUse === '\\Sent' && messageId ? messages.find((m) => m.mailboxId === box.id && m.messageIdHeader === messageId) : undefined;
          if (existing) return { uid: existing.uid, duplicate: true };
          return { uid: add(box, input.raw, [...input.flags], input.internalDate, input.internalDateZone).uid, duplicate: false };
        });
        return { uidvalidity: box.uidvalidity, appended };
      },
      async listClaimingRecent(userId, mailboxId, afterUid = 0) {
        const rows = await this.list(userId, mailboxId, afterUid);
        const box = byId(mailboxId);
        const firstRecent = box.firstRecentUid;
        box.firstRecentUid = Math.max(firstRecent, (rows.at(-1)?.uid ?? afterUid) + 1);
        return { rows, firstRecent };
      },
      async sync(userId, mailboxId, { since, claimRecent }) {
        const all = await this.list(userId, mailboxId);
        const lastUid = since?.lastUid ?? 0;
        const rows = since && lastUid > 0 ? all.filter((r) => r.uid > lastUid || r.modseq > since.modseq) : all;
        const gone = since ? vanished(mailboxId, since.modseq).filter((uid) => uid <= lastUid) : null;
        const synced = { gone, total: all.length, modseq: Math.max(modseq, ...all.map((r) => r.modseq)) };
        const box = mailboxes.find((m) => m.id === mailboxId);
        if (!box) return { rows, ...synced, firstRecent: null };
        const firstRecent = box.firstRecentUid;
        if (claimRecent) box.firstRecentUid = Math.max(firstRecent, Math.max(lastUid, all.at(-1)?.uid ?? 0) + 1);
        return { rows, ...synced, firstRecent };
      },
      async recent(userId, mailboxId) {
        check(userId);
        const box = byId(mailboxId);
        return { firstUid: box.firstRecentUid, count: messages.filter((m) => m.mailboxId === box.id && m.uid >= box.firstRecentUid).length };
      },
      async sortFields(userId, mailboxId) {
        check(userId);
        const inBox = messages.filter((m) => m.mailboxId === mailboxId).sort((a, b) => a.uid - b.uid);
        return Promise.all(
          inBox.map(async (m) => {
            const summary = await summarizeMessage(m.raw);
            return { uid: m.uid, subject: summary.subject, from: summary.from[0] ?? null, to: summary.to[0] ?? null, cc: summary.cc[0] ?? null, messageId: summary.messageId, inReplyTo: summary.inReplyTo, references: summary.references };
          }),
        );
      },
      async searchText(userId, mailboxId, field, text, upToUid) {
        check(userId);
        const wanted = text.toLowerCase();
        return messages
          .filter((m) => m.mailboxId === mailboxId && m.uid <= (upToUid ?? Infinity))
          .filter((m) => {
            const raw = m.raw.toString('utf8');
            const split = raw.indexOf('\r\n\r\n');
            const head = split < 0 ? raw : raw.slice(0, split);
            const body = split < 0 ? '' : raw.slice(split + 4);
            const header = (name: string) => new RegExp(`^${name}:(.*)$`, 'im').exec(head)?.[1] ?? '';
            const haystack = field === 'body' ? body : field === 'text' ? raw : header(field === 'from' ? 'From' : field === 'to' ? 'To' : field === 'cc' ? 'Cc' : 'Subject');
            return haystack.toLowerCase().includes(wanted);
          })
          .map((m) => m.uid);
      },
    },
    changes: {
      async open(userId) {
        check(userId);
        const feed: FakeFeed = new FakeFeed(() => feeds.delete(feed));
        feeds.add(feed);
        return feed;
      },
      async vanishedSince(userId, mailboxId, since) {
        check(userId);
        return vanished(mailboxId, since);
      },
    },
  };
  return store;
}
