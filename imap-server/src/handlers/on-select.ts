import type { ImapMailboxInfo, ImapMessageRow } from '@mailyard/core';
import { parseNumber, tokenText, type Args } from '../protocol/commands/args.js';
import { parseSequenceSet, type SequenceSet } from '../protocol/commands/sequence-set.js';
import { flagList } from '../protocol/response.js';
import { listLine } from './on-mailboxes.js';
import { sendResync } from './qresync.js';
import { SelectedMailbox } from './selected-mailbox.js';
import { SYSTEM_FLAGS, type ImapSession } from './session.js';
import { no, ok, AUTHENTICATED, SELECTED, type CommandHandler, type Reply } from './types.js';

/**
 * SELECT and EXAMINE (with the CONDSTORE and QRESYNC parameters; IMAP4rev1 or IMAP4rev2 answers), CLOSE,
 * UNSELECT, EXPUNGE and UID EXPUNGE (its UID set may be `$`, SEARCHRES).
 */

async function open(session: ImapSession, args: Args, readOnly: boolean): Promise<Reply> {
  const name = args.mailbox();
  const params = args.optionalList() ?? [];
  let resync: { uidvalidity: number; modseq: number; known: SequenceSet | null } | null = null;
  for (let i = 0; i < params.length; i++) {
    const param = tokenText(params[i]!, 'select parameter', args.tag).toUpperCase();
    if (param === 'CONDSTORE') session.condstore = true;
    else if (param === 'QRESYNC') {
      if (!session.qresync) args.fail('QRESYNC is not enabled');
      const data = params[++i];
      if (data?.type !== 'list' || data.items.length < 2) args.fail('QRESYNC needs (uidvalidity modseq [known-uids])');
      const [validity, modseq, known] = data.items.map((t) => tokenText(t, 'QRESYNC parameter', args.tag));
      resync = { uidvalidity: parseNumber(validity!, 'UIDVALIDITY', args.tag), modseq: parseNumber(modseq!, 'MODSEQ', args.tag), known: known ? parseSequenceSet(known, args.tag) : null };
    } else args.fail(`unknown SELECT parameter ${param.slice(0, 20)}`);
  }
  args.end();
  const previous = session.selected;
  if (previous) {
    session.selected = null;
    session.state = 'authenticated';
    await session.send('* OK [CLOSED] Previous mailbox closed');
  }
  // The feed's changes from now on are kept for the new view: those that come while it is read
  // (some of them may be newer than what the read finds) are applied to it once it is made.
  session.holdEvents();
  let selected: SelectedMailbox | null = null;
  try {
    // IMAP4rev2 ends with the mailbox's LIST, which needs all the user's folders: the mailbox is one
    // of them (INBOX in any case, as `find`).
    const all = session.rev2 ? await session.services.mailboxes.list(session.userId) : null;
    const mailbox = all ? (all.find((m) => (name.toUpperCase() === 'INBOX' ? m.specialUse === '\\Inbox' : m.name === name)) ?? null) : await session.services.mailboxes.find(session.userId, name);
    if (!mailbox) return no('No such mailbox', 'NONEXISTENT');
    const view = await readView(session, mailbox, readOnly, previous);
    selected = view.selected;
    selected.reportedExists = selected.exists;
    session.selected = selected;
    session.state = 'selected';
    session.releaseEvents(selected);
    const rows = selected.rows();
    const uidnext = Math.max(mailbox.uidnext, selected.lastUid + 1);
    const highestModseq = rows.reduce((max, r) => Math.max(max, r.modseq), Math.max(mailbox.highestmodseq, 1));
    await session.send(`* FLAGS ${flagList(SYSTEM_FLAGS)}`);
    await session.send(`* OK [PERMANENTFLAGS ${readOnly ? '()' : flagList([...SYSTEM_FLAGS, '\\*'])}] Flags permitted`);
    await session.send(`* ${rows.length} EXISTS`);
    if (!session.rev2) {
      await session.send(`* ${selected.markRecent(view.firstRecent)} RECENT`);
      const firstUnseen = rows.findIndex((r) => !r.flags.includes('\\Seen'));
      if (firstUnseen >= 0) await session.send(`* OK [UNSEEN ${firstUnseen + 1}] First unseen`);
    }
    await session.send(`* OK [UIDVALIDITY ${mailbox.uidvalidity}] UIDs valid`);
    await session.send(`* OK [UIDNEXT ${uidnext}] Predicted next UID`);
    await session.send(`* OK [HIGHESTMODSEQ ${highestModseq}] Highest`);
    // IMAP4rev2 has neither RECENT nor UNSEEN here, but the mailbox's LIST (RFC 9051 6.3.2).
    if (all) await session.send(...listLine(session, mailbox, all));
    if (resync && resync.uidvalidity === mailbox.uidvalidity) await sendResync(session, resync.modseq, resync.known);
  } finally {
    if (!selected) session.releaseEvents(null);
  }
  return ok(`${readOnly ? 'EXAMINE' : 'SELECT'} completed`, readOnly ? 'READ-ONLY' : 'READ-WRITE');
}

/**
 * The session's new view of a mailbox, in one statement. When the session had this very mailbox
 * selected (same id and UIDVALIDITY: a client that SELECTs its INBOX again), only what changed since
 * that view was read is fetched, from the change log (the store, not the feed, says what changed:
 * nothing stale is served); the whole mailbox when too much changed or the result does not add up.
 * \Recent: a read-write IMAP4rev1 SELECT claims what is recent; EXAMINE only looks (RFC 3501
 * 6.3.2); IMAP4rev2 has no \Recent.
 */
async function readView(session: ImapSession, mailbox: ImapMailboxInfo, readOnly: boolean, previous: SelectedMailbox | null): Promise<{ selected: SelectedMailbox; firstRecent: number }> {
  const claimRecent = !readOnly && !session.rev2;
  const make = (rows: ImapMessageRow[], syncedModseq: number) => new SelectedMailbox(mailbox.id, mailbox.name, readOnly, mailbox.uidvalidity, rows, syncedModseq);
  let claimed: number | null = null;
  if (previous && previous.id === mailbox.id && previous.uidvalidity === mailbox.uidvalidity && previous.lastUid > 0) {
    const since = { lastUid: previous.lastUid, modseq: previous.syncedModseq };
    const changed = await session.services.messages.sync(session.userId, mailbox.id, { since, claimRecent });
    const firstRecent = changed.firstRecent ?? since.lastUid + 1;
    const rows = changed.gone && previous.rowsAfter(changed.gone, changed.rows, changed.total);
    if (rows) return { selected: make(rows, changed.modseq), firstRecent };
    // What was recent was claimed above: the whole read below only looks.
    claimed = firstRecent;
  }
  const read = await session.services.messages.sync(session.userId, mailbox.id, { claimRecent: claimRecent && claimed === null });
  const selected = make(read.rows, read.modseq);
  return { selected, firstRecent: claimed ?? read.firstRecent ?? selected.lastUid + 1 };
}
export const select: CommandHandler = { states: AUTHENTICATED, run: (session, args) => open(session, args, false) };
export const examine: CommandHandler = { states: AUTHENTICATED, run: (session, args) => open(session, args, true) };

function deselect(session: ImapSession): void {
  session.selected = null;
  session.state = 'authenticated';
}

export const unselect: CommandHandler = {
  states: SELECTED,
  async run(session, args) {
    args.end();
    deselect(session);
    return ok('UNSELECT completed');
  },
};

/** CLOSE: expunges silently (read-write), then deselects. */
export const close: CommandHandler = {
  states: SELECTED,
  async run(session, args) {
    args.end();
    const selected = session.selected!;
    if (!selected.readOnly) await session.services.messages.expunge(session.userId, selected.id);
    deselect(session);
    return ok('CLOSE completed');
  },
};

async function expunge(session: ImapSession, uids?: number[]): Promise<Reply> {
  const selected = session.selected!;
  if (selected.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
  const deleted = await session.services.messages.expunge(session.userId, selected.id, uids);
  await session.sendExpunges(selected.remove(deleted.map((d) => d.uid)));
  return ok('EXPUNGE completed');
}

export const expungeCommand: CommandHandler = {
  states: SELECTED,
  async run(session, args) {
    args.end();
    return expunge(session);
  },
};

export const uidExpunge: CommandHandler = {
  states: SELECTED,
  async run(session, args) {
    const { set } = session.selected!.sequenceSet(args.atom('UID set'), true, args.tag);
    args.end();
    return expunge(session, session.selected!.resolve(set, true).map((m) => m.row.uid));
  },
};
