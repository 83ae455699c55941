import type { Args } from '../protocol/commands/args.js';
import { formatSequenceSet } from '../protocol/commands/sequence-set.js';
import type { ImapSession } from './session.js';
import { bad, no, ok, SELECTED, type CommandHandler, type Reply } from './types.js';

/**
 * COPY, MOVE and their UID forms (UIDPLUS COPYUID; MOVE reports the sources as EXPUNGEd). Both go
 * through the mailbox writer; a missing target is `NO [TRYCREATE]`. The set may be `$` (SEARCHRES).
 */

async function transfer(session: ImapSession, args: Args, byUid: boolean, move: boolean): Promise<Reply> {
  const selected = session.selected!;
  const { set, byUid: setByUid } = selected.sequenceSet(args.atom('sequence set'), byUid, args.tag);
  const name = args.mailbox();
  args.end();
  if (!setByUid && selected.outOfRange(set)) return bad('Invalid message sequence number');
  if (move && selected.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
  const target = await session.services.mailboxes.find(session.userId, name);
  if (!target) return no('No such mailbox', 'TRYCREATE');
  const verb = move ? 'MOVE' : 'COPY';
  const targets = selected.resolve(set, setByUid);
  if (targets.length === 0) return ok(`${verb} completed (no messages)`);
  const ids = targets.map((t) => t.row.id);
  if (target.id === selected.id) selected.expectNew();
  if (!move) {
    const result = await session.services.messages.copy(session.userId, ids, target.id);
    return ok(`${verb} completed`, `COPYUID ${result.target.uidvalidity} ${formatSequenceSet(result.copied.map((c) => c.sourceUid))} ${formatSequenceSet(result.copied.map((c) => c.uid))}`);
  }
  const result = await session.services.messages.move(session.userId, ids, target.id);
  if (result.moved.length > 0) {
    await session.send(`* OK [COPYUID ${result.target.uidvalidity} ${formatSequenceSet(result.moved.map((m) => m.fromUid))} ${formatSequenceSet(result.moved.map((m) => m.uid))}] Moved`);
    await session.sendExpunges(selected.remove(result.moved.map((m) => m.fromUid)));
  }
  return ok(`${verb} completed`);
}

export const copy: CommandHandler = { states: SELECTED, run: (session, args) => transfer(session, args, false, false) };
export const uidCopy: CommandHandler = { states: SELECTED, run: (session, args) => transfer(session, args, true, false) };
export const move: CommandHandler = { states: SELECTED, run: (session, args) => transfer(session, args, false, true) };
export const uidMove: CommandHandler = { states: SELECTED, run: (session, args) => transfer(session, args, true, true) };
