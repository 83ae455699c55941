import { flagArgs, parseNumber, tokenText, type Args } from '../protocol/commands/args.js';
import { formatSequenceSet } from '../protocol/commands/sequence-set.js';
import { flagList } from '../protocol/response.js';
import type { ImapSession } from './session.js';
import { bad, no, ok, SELECTED, type CommandHandler, type Reply } from './types.js';

/**
 * STORE and UID STORE: FLAGS, +FLAGS, -FLAGS (and .SILENT), with CONDSTORE's UNCHANGEDSINCE
 * (messages changed since are left alone and named in `[MODIFIED ...]`). The change goes through
 * the mailbox writer; the untagged FETCH answers carry the flags it reports. The set may be `$` (SEARCHRES).
 */

async function store(session: ImapSession, args: Args, byUid: boolean): Promise<Reply> {
  const selected = session.selected!;
  const { set, byUid: setByUid } = selected.sequenceSet(args.atom('sequence set'), byUid, args.tag);
  let unchangedSince: number | undefined;
  const modifiers = args.optionalList();
  if (modifiers) {
    if (modifiers.length !== 2 || tokenText(modifiers[0]!, 'modifier', args.tag).toUpperCase() !== 'UNCHANGEDSINCE') args.fail('unknown STORE modifier');
    unchangedSince = parseNumber(tokenText(modifiers[1]!, 'UNCHANGEDSINCE', args.tag), 'UNCHANGEDSINCE', args.tag);
    await session.enableCondstore();
  }
  const action = args.atom('store action').toUpperCase();
  const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(action);
  if (!m) args.fail(`unknown STORE action ${action.slice(0, 20)}`);
  const next = args.peek();
  const flags = next?.type === 'list' ? flagArgs(args.list('flags'), args.tag) : flagArgs(Array.from({ length: args.remaining }, () => args.token('flag')), args.tag);
  args.end();
  if (!setByUid && selected.outOfRange(set)) return bad('Invalid message sequence number');
  if (selected.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
  const targets = selected.resolve(set, setByUid);
  if (targets.length === 0) return ok('STORE completed');
  const change = m[1] === '+' ? { add: flags } : m[1] === '-' ? { remove: flags } : { replace: flags };
  const results = await session.services.messages.setFlags(session.userId, targets.map((t) => t.row.id), { ...change, ...(unchangedSince !== undefined ? { unchangedSince } : {}) });
  const byId = new Map(results.map((r) => [r.id, r]));
  const silent = Boolean(m[2]);
  const conflicts: number[] = [];
  for (const { seq, row } of targets) {
    const result = byId.get(row.id);
    if (!result) continue;
    if (result.conflict) {
      conflicts.push(byUid ? row.uid : seq);
      continue;
    }
    selected.updateFlags(row.uid, result.flags, result.modseq);
    // .SILENT: no FETCH, except that CONDSTORE clients learn the new MODSEQ (RFC 7162 3.1.3).
    if (silent && !(session.condstore && result.changed)) continue;
    const items = [...(byUid ? [`UID ${row.uid}`] : []), ...(silent ? [] : [`FLAGS ${flagList(selected.flagsOf({ uid: row.uid, flags: result.flags }))}`]), ...(session.condstore ? [`MODSEQ (${result.modseq})`] : [])];
    await session.send(`* ${seq} FETCH (${items.join(' ')})`);
  }
  if (conflicts.length > 0) return ok('Conditional STORE failed for some messages', `MODIFIED ${formatSequenceSet(conflicts)}`);
  return ok('STORE completed');
}

export const storeCommand: CommandHandler = { states: SELECTED, expungeAllowed: false, run: (session, args) => store(session, args, false) };
export const uidStore: CommandHandler = { states: SELECTED, run: (session, args) => store(session, args, true) };
