import type { ImapMessageRow, ImapSortFields } from '@mailyard/core';
import { BadCharsetError } from '../protocol/commands/search.js';
import { formatOrderedSet } from '../protocol/commands/sequence-set.js';
import { baseSubject, parseSort, type SortCriterion, type SortKey } from '../protocol/commands/sort.js';
import { matchingMessages, usesModseq } from './on-search.js';
import type { ImapSession } from './session.js';
import { no, ok, SELECTED, type CommandHandler, type Reply } from './types.js';

/**
 * SORT and UID SORT (RFC 5256, with RFC 5957's DISPLAYFROM and DISPLAYTO, and ESORT's RETURN) over the selected
 * mailbox: the messages SEARCH would find, ordered by the criteria in turn, then by sequence
 * number. Subjects and addresses come from the store's columns (one query, no message bytes); an address listed in
 * an RFC 5322 group sorts by the group's name (rows stored before groups were kept sort by the address);
 * strings compare under i;ascii-casemap (ASCII letters folded, other characters by code point).
 */

/** i;ascii-casemap: only a–z are folded. */
const casemap = (text: string) => text.replace(/[a-z]+/g, (c) => c.toUpperCase());

// When the first address is in an RFC 5322 group, the group comes first in the field (its ENVELOPE entry's mailbox
// is the group's name): both keys are the group's name, as in Dovecot.
const mailboxPart = (a: ImapSortFields['from']) => (a ? a.group || a.address.slice(0, Math.max(0, a.address.lastIndexOf('@'))) || a.address : '');
const display = (a: ImapSortFields['from']) => (a ? a.group || a.name.trim() || a.address : '');

function keyOf(key: SortKey, row: ImapMessageRow, fields: ImapSortFields | undefined): string | number {
  switch (key) {
    case 'ARRIVAL':
      return row.internalDate.getTime();
    case 'DATE':
      return (row.sentDate ?? row.internalDate).getTime();
    case 'SIZE':
      return row.size;
    case 'SUBJECT':
      return casemap(baseSubject(fields?.subject ?? ''));
    case 'FROM':
      return casemap(mailboxPart(fields?.from ?? null));
    case 'TO':
      return casemap(mailboxPart(fields?.to ?? null));
    case 'CC':
      return casemap(mailboxPart(fields?.cc ?? null));
    case 'DISPLAYFROM':
      return casemap(display(fields?.from ?? null));
    case 'DISPLAYTO':
      return casemap(display(fields?.to ?? null));
  }
}

const needsFields = (criteria: readonly SortCriterion[]) => criteria.some((c) => !['ARRIVAL', 'DATE', 'SIZE'].includes(c.key));

async function sort(session: ImapSession, tokens: Parameters<typeof parseSort>[0], tag: string, byUid: boolean): Promise<Reply> {
  let command;
  try {
    command = parseSort(tokens, tag);
  } catch (err) {
    if (err instanceof BadCharsetError) return no(`Charset ${err.message} is not supported`, 'BADCHARSET (UTF-8 US-ASCII)');
    throw err;
  }
  const selected = session.selected!;
  const matches = await matchingMessages(session, command.key);
  const fields = new Map<number, ImapSortFields>();
  if (needsFields(command.criteria) && matches.length > 0) {
    for (const f of await session.services.messages.sortFields(session.userId, selected.id)) fields.set(f.uid, f);
  }
  const keyed = matches.map((m) => ({ ...m, keys: command.criteria.map((c) => keyOf(c.key, m.row, fields.get(m.row.uid))) }));
  keyed.sort((a, b) => {
    for (const [i, criterion] of command.criteria.entries()) {
      const x = a.keys[i]!;
      const y = b.keys[i]!;
      if (x === y) continue;
      const order = x < y ? -1 : 1;
      return criterion.reverse ? -order : order;
    }
    return a.seq - b.seq;
  });
  const modseq = usesModseq(command.key) && keyed.length > 0 ? Math.max(...keyed.map((m) => m.row.modseq)) : null;
  const numbers = keyed.map((m) => (byUid ? m.row.uid : m.seq));
  if (command.returns) {
    // ESORT (RFC 5267): MIN and MAX are the first and last in sort order, ALL keeps that order.
    const returns = command.returns.length === 0 ? ['ALL'] : command.returns;
    const data: string[] = [];
    if (numbers.length > 0) {
      if (returns.includes('MIN')) data.push(`MIN ${numbers[0]}`);
      if (returns.includes('MAX')) data.push(`MAX ${numbers.at(-1)}`);
      if (returns.includes('ALL')) data.push(`ALL ${formatOrderedSet(numbers)}`);
    }
    if (returns.includes('COUNT')) data.push(`COUNT ${numbers.length}`);
    if (modseq !== null) data.push(`MODSEQ ${modseq}`);
    await session.send(`* ESEARCH (TAG "${tag}")${byUid ? ' UID' : ''}${data.map((d) => ` ${d}`).join('')}`);
  } else {
    await session.send(`* SORT${numbers.map((n) => ` ${n}`).join('')}${modseq !== null ? ` (MODSEQ ${modseq})` : ''}`);
  }
  return ok(`${byUid ? 'UID ' : ''}SORT completed`);
}

export const sortCommand: CommandHandler = {
  states: SELECTED,
  expungeAllowed: false,
  run: (session, args, command) => sort(session, command.args, args.tag, false),
};
export const uidSort: CommandHandler = {
  states: SELECTED,
  run: (session, args, command) => sort(session, command.args, args.tag, true),
};
