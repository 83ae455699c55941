import { formatSequenceSet, inSequenceSet, type SequenceSet } from '../protocol/commands/sequence-set.js';
import { flagList } from '../protocol/response.js';
import type { ImapSession } from './session.js';

/**
 * QRESYNC (RFC 7162 3.2): what a client that was away since a modseq missed in the selected
 * mailbox. `VANISHED (EARLIER)` comes from the change log; when the log no longer reaches back,
 * every UID below the last one that is not in the mailbox is named instead (a superset, which the
 * RFC allows: the client ignores UIDs it never had).
 */

/** Sends `* VANISHED (EARLIER) …` for the UIDs gone since `since` (within `known` when given). */
export async function sendVanishedEarlier(session: ImapSession, since: number, known: SequenceSet | null): Promise<void> {
  const selected = session.selected!;
  const star = selected.lastUid;
  const uids = await session.services.changes.vanishedSince(session.userId, selected.id, since);
  let set: string;
  if (uids === null) {
    const uidnext = (await session.services.mailboxes.list(session.userId)).find((m) => m.id === selected.id)?.uidnext ?? star + 1;
    const ranges: string[] = [];
    let previous = 0;
    for (const uid of [...selected.rows().map((r) => r.uid), Math.max(uidnext, star + 1)]) {
      if (uid > previous + 1) ranges.push(uid - 1 === previous + 1 ? `${uid - 1}` : `${previous + 1}:${uid - 1}`);
      previous = uid;
    }
    set = ranges.join(',');
  } else {
    const gone = [...new Set(uids)].filter((uid) => selected.seqOf(uid) === 0 && (!known || inSequenceSet(known, uid, star))).sort((a, b) => a - b);
    set = gone.length > 0 ? formatSequenceSet(gone) : '';
  }
  if (set !== '') await session.send(`* VANISHED (EARLIER) ${set}`);
}

/** SELECT/EXAMINE (QRESYNC (uidvalidity modseq [known-uids])): the vanished UIDs, then the messages changed since. */
export async function sendResync(session: ImapSession, since: number, known: SequenceSet | null): Promise<void> {
  const selected = session.selected!;
  await sendVanishedEarlier(session, since, known);
  for (const [index, row] of selected.rows().entries()) {
    if (row.modseq <= since || (known && !inSequenceSet(known, row.uid, selected.lastUid))) continue;
    await session.send(`* ${index + 1} FETCH (UID ${row.uid} FLAGS ${flagList(selected.flagsOf(row))} MODSEQ (${row.modseq}))`);
  }
}
