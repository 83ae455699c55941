import type { ImapMailboxInfo } from '@mailyard/core';
import { decodeMailbox, InvalidMailboxNameError, tokenText, type Args } from '../protocol/commands/args.js';
import { ImapParseError, type Token } from '../protocol/parser.js';
import type { Part } from '../protocol/response.js';
import type { ImapSession } from './session.js';
import { no, ok, AUTHENTICATED, type CommandHandler } from './types.js';

/**
 * Folder commands: LIST (with the LIST-EXTENDED selection and RETURN options clients send,
 * SPECIAL-USE attributes and LIST-STATUS), LSUB, STATUS, CREATE, DELETE, RENAME, SUBSCRIBE and
 * UNSUBSCRIBE. "/" is the hierarchy delimiter. Subscriptions are stored by name (folders made
 * elsewhere start subscribed; CREATE does not subscribe); RENAME takes the subfolders along;
 * DELETE of a folder with subfolders is refused (the store cannot keep a \Noselect name for them).
 */

export const DELIMITER = '/';
const STATUS_ITEMS = ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'HIGHESTMODSEQ', 'SIZE', 'DELETED', 'RECENT'] as const;
type StatusItem = (typeof STATUS_ITEMS)[number];

function statusItems(tokens: readonly Token[], tag: string): StatusItem[] {
  if (tokens.length === 0) throw new ImapParseError('STATUS needs at least one item', tag);
  return tokens.map((t) => {
    const name = tokenText(t, 'status item', tag).toUpperCase();
    if (!STATUS_ITEMS.includes(name as StatusItem)) throw new ImapParseError(`unknown STATUS item ${name.slice(0, 20)}`, tag);
    return name as StatusItem;
  });
}

/** The STATUS response; RECENT and DELETED (RFC 9051: messages flagged \Deleted) are read only when asked for. */
async function statusLine(session: ImapSession, mailbox: ImapMailboxInfo, items: readonly StatusItem[]): Promise<Part[]> {
  const recent = items.includes('RECENT') ? (await session.services.messages.recent(session.userId, mailbox.id)).count : 0;
  const deleted = items.includes('DELETED') ? (await session.services.messages.list(session.userId, mailbox.id)).filter((m) => m.flags.includes('\\Deleted')).length : 0;
  const values: Record<StatusItem, number> = {
    MESSAGES: mailbox.messages,
    UIDNEXT: mailbox.uidnext,
    UIDVALIDITY: mailbox.uidvalidity,
    UNSEEN: mailbox.unseen,
    HIGHESTMODSEQ: mailbox.highestmodseq,
    SIZE: mailbox.size,
    DELETED: deleted,
    RECENT: recent,
  };
  return ['* STATUS ', session.mailboxName(mailbox.name), ` (${items.map((i) => `${i} ${values[i]}`).join(' ')})`];
}

/** A LIST pattern as a regular expression: `*` anything, `%` anything but the delimiter. */
function patternRegex(pattern: string): RegExp {
  const body = [...pattern].map((c) => (c === '*' ? '.*' : c === '%' ? '[^/]*' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 'u');
}

interface ListRequest {
  selectSubscribed: boolean;
  selectSpecialUse: boolean;
  recursiveMatch: boolean;
  returnSubscribed: boolean;
  returnStatus: StatusItem[] | null;
  patterns: string[];
  reference: string;
}

function readListRequest(args: Args, lsub: boolean): ListRequest {
  const request: ListRequest = { selectSubscribed: lsub, selectSpecialUse: false, recursiveMatch: false, returnSubscribed: lsub, returnStatus: null, patterns: [], reference: '' };
  const selection = lsub ? undefined : args.optionalList();
  for (const t of selection ?? []) {
    const option = tokenText(t, 'selection option', args.tag).toUpperCase();
    if (option === 'SUBSCRIBED') request.selectSubscribed = request.returnSubscribed = true;
    else if (option === 'SPECIAL-USE') request.selectSpecialUse = true;
    else if (option === 'RECURSIVEMATCH') request.recursiveMatch = true;
    else if (option !== 'REMOTE') args.fail(`unknown LIST selection option ${option.slice(0, 20)}`);
  }
  // RFC 5258 3: RECURSIVEMATCH alone (or with only REMOTE) is a BAD.
  if (request.recursiveMatch && !request.selectSubscribed && !request.selectSpecialUse) args.fail('RECURSIVEMATCH needs another selection option');
  const reference = args.astringBytes('reference');
  const patterns = args.peek()?.type === 'list' ? args.list('patterns') : [args.token('mailbox pattern')];
  // A pattern that is not valid modified UTF-7 (or UTF-8, IMAP4rev2) matches no folder.
  const decoded = (wire: Buffer) => {
    try {
      return decodeMailbox(wire, args.utf8Names);
    } catch (err) {
      if (err instanceof InvalidMailboxNameError) return null;
      throw err;
    }
  };
  request.reference = decoded(reference) ?? '';
  request.patterns = decoded(reference) === null ? [] : patterns.flatMap((t) => decoded(tokenBytes(t, 'mailbox pattern', args.tag)) ?? []);
  if (!lsub && args.remaining > 0) {
    if (args.atom('RETURN').toUpperCase() !== 'RETURN') args.fail('expected RETURN');
    const options = args.list('return options');
    for (let i = 0; i < options.length; i++) {
      const option = tokenText(options[i]!, 'return option', args.tag).toUpperCase();
      if (option === 'SUBSCRIBED') request.returnSubscribed = true;
      else if (option === 'STATUS') {
        const items = options[++i];
        if (items?.type !== 'list') args.fail('RETURN STATUS needs a list of items');
        request.returnStatus = statusItems(items.items, args.tag);
      } else if (option !== 'SPECIAL-USE' && option !== 'CHILDREN') args.fail(`unknown LIST return option ${option.slice(0, 20)}`);
    }
  }
  args.end();
  return request;
}

/** An atom's or a string's bytes (a LIST pattern). */
function tokenBytes(token: Token, what: string, tag: string): Buffer {
  if (token.type === 'list') throw new ImapParseError(`${what} must be a string`, tag);
  return token.type === 'atom' ? Buffer.from(token.value, 'latin1') : token.value;
}

/** A folder's children and special-use attributes (CHILDREN, SPECIAL-USE; INBOX has none of the latter). */
function folderAttributes(name: string, mailbox: ImapMailboxInfo | undefined, all: readonly ImapMailboxInfo[]): string[] {
  const attributes = [all.some((m) => m.name.startsWith(`${name}${DELIMITER}`)) ? '\\HasChildren' : '\\HasNoChildren'];
  if (mailbox?.specialUse && mailbox.specialUse !== '\\Inbox') attributes.push(mailbox.specialUse);
  return attributes;
}

/** The untagged LIST of one folder among the user's folders (`all`), as IMAP4rev2's SELECT and EXAMINE send it (RFC 9051 6.3.2). */
export function listLine(session: ImapSession, mailbox: ImapMailboxInfo, all: readonly ImapMailboxInfo[]): Part[] {
  const attributes = folderAttributes(mailbox.name, mailbox, all);
  return [`* LIST (${attributes.join(' ')}) "${DELIMITER}" `, session.mailboxName(mailbox.name)];
}

/** The ancestors of a name, nearest last: `a/b/c` → `a`, `a/b`. */
function ancestors(name: string): string[] {
  const parts = name.split(DELIMITER);
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join(DELIMITER));
}

/**
 * LIST and LSUB. Candidates are the folders (LIST) or the subscribed names (LSUB, LIST
 * (SUBSCRIBED): a subscribed name whose folder is gone is `\NonExistent`). A name that does not
 * match but has a matching ancestor that is not itself a candidate brings that ancestor in as
 * `\Noselect` (RFC 3501 6.3.8, 6.3.9); with (SUBSCRIBED RECURSIVEMATCH) such an ancestor is
 * answered with CHILDINFO ("SUBSCRIBED") instead (RFC 5258).
 */
async function runList(session: ImapSession, args: Args, lsub: boolean) {
  const request = readListRequest(args, lsub);
  const verb = lsub ? 'LSUB' : 'LIST';
  if (request.patterns.length === 1 && request.patterns[0] === '') {
    await session.send(`* ${verb} (\\Noselect) "${DELIMITER}" ""`);
    return ok(`${verb} completed`);
  }
  const mailboxes = await session.services.mailboxes.list(session.userId);
  const byName = new Map(mailboxes.map((m) => [m.name, m]));
  const subscribed = new Set(request.selectSubscribed || request.returnSubscribed ? await session.services.mailboxes.subscriptions(session.userId) : []);
  const regexes = request.patterns.map((p) => patternRegex(`${request.reference}${p}`));
  // INBOX is case-insensitive (RFC 3501 5.1): a pattern matches it in any case.
  const matchName = (name: string) => regexes.some((r) => r.test(name) || (name === 'INBOX' && new RegExp(r.source, 'iu').test(name)));

  const candidates = request.selectSubscribed ? [...subscribed] : mailboxes.filter((m) => !request.selectSpecialUse || (m.specialUse && m.specialUse !== '\\Inbox')).map((m) => m.name);
  const candidateSet = new Set(candidates);
  const lines: Part[][] = [];
  const shown = new Set<string>();
  const childInfo = new Set<string>();
  for (const name of candidates) {
    if (matchName(name)) continue;
    for (const parent of ancestors(name).reverse()) {
      if (candidateSet.has(parent) || !matchName(parent)) continue;
      if (request.selectSubscribed && request.recursiveMatch) childInfo.add(parent);
      else if (!request.selectSubscribed || lsub) {
        // IMAP4rev2 names a missing parent \NonExistent (which implies \Noselect, RFC 9051 7.3.1).
        const missing = session.rev2 && !lsub ? '\\NonExistent' : '\\Noselect';
        if (!shown.has(parent)) lines.push([`* ${verb} (${missing} \\HasChildren) "${DELIMITER}" `, session.mailboxName(parent)]);
        shown.add(parent);
      }
      break;
    }
  }
  for (const name of [...candidates.filter(matchName), ...childInfo]) {
    if (shown.has(name)) continue;
    shown.add(name);
    const mailbox = byName.get(name);
    const attributes: string[] = [];
    if (!mailbox) attributes.push(lsub ? '\\Noselect' : '\\NonExistent');
    attributes.push(...folderAttributes(name, mailbox, mailboxes));
    if (request.returnSubscribed && subscribed.has(name)) attributes.push('\\Subscribed');
    const extended = childInfo.has(name) && !lsub ? ' (CHILDINFO ("SUBSCRIBED"))' : '';
    lines.push([`* ${verb} (${attributes.join(' ')}) "${DELIMITER}" `, session.mailboxName(name), extended]);
    if (request.returnStatus && mailbox) lines.push(await statusLine(session, mailbox, request.returnStatus));
  }
  for (const parts of lines) await session.send(...parts);
  return ok(`${verb} completed`);
}

export const list: CommandHandler = { states: AUTHENTICATED, run: (session, args) => runList(session, args, false) };
export const lsub: CommandHandler = { states: AUTHENTICATED, run: (session, args) => runList(session, args, true) };

export const status: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    const name = args.mailbox();
    const items = statusItems(args.list('status items'), args.tag);
    args.end();
    const mailbox = await session.services.mailboxes.find(session.userId, name);
    if (!mailbox) return no('No such mailbox', 'NONEXISTENT');
    await session.send(...(await statusLine(session, mailbox, items)));
    return ok('STATUS completed');
  },
};

/** A name as created or renamed to: a trailing delimiter only says "will have children". */
function folderName(name: string): string {
  return name.endsWith(DELIMITER) ? name.slice(0, -DELIMITER.length) : name;
}

export const create: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    const name = folderName(args.mailbox());
    args.end();
    if (name === 'INBOX') return no('INBOX already exists', 'ALREADYEXISTS');
    await session.services.mailboxes.create(session.userId, name);
    return ok('CREATE completed');
  },
};

export const deleteMailbox: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    const name = args.mailbox();
    args.end();
    const mailbox = await session.services.mailboxes.find(session.userId, name);
    if (!mailbox) return no('No such mailbox', 'NONEXISTENT');
    // RFC 3501 6.3.4 would keep the name as \Noselect for its subfolders; the store has no such folders.
    const all = await session.services.mailboxes.list(session.userId);
    // IMAP4rev2 has a code for it (RFC 9051 7.1); RFC 5530's INUSE for IMAP4rev1.
    if (all.some((m) => m.name.startsWith(`${mailbox.name}${DELIMITER}`))) return no('The folder has subfolders: delete or move them first', session.rev2 ? 'HASCHILDREN' : 'INUSE');
    await session.services.mailboxes.remove(session.userId, mailbox.id);
    return ok('DELETE completed');
  },
};

export const rename: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    const from = args.mailbox('existing mailbox name');
    const to = folderName(args.mailbox('new mailbox name'));
    args.end();
    const mailbox = await session.services.mailboxes.find(session.userId, from);
    if (!mailbox) return no('No such mailbox', 'NONEXISTENT');
    if (to === 'INBOX') return no('INBOX already exists', 'ALREADYEXISTS');
    await session.services.mailboxes.rename(session.userId, mailbox.id, to);
    return ok('RENAME completed');
  },
};

/** SUBSCRIBE: the folder must exist; the name stays subscribed if the folder is deleted later. */
export const subscribe: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    const name = args.mailbox();
    args.end();
    const mailbox = await session.services.mailboxes.find(session.userId, name);
    if (!mailbox) return no('No such mailbox', 'NONEXISTENT');
    await session.services.mailboxes.subscribe(session.userId, mailbox.name);
    return ok('SUBSCRIBE completed');
  },
};

/** UNSUBSCRIBE: also for a name whose folder is gone; a name that was not subscribed is a NO. */
export const unsubscribe: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    const name = args.mailbox();
    args.end();
    const stored = name.toUpperCase() === 'INBOX' ? 'INBOX' : name;
    if (!(await session.services.mailboxes.unsubscribe(session.userId, stored))) return no('Not subscribed to that name', 'NONEXISTENT');
    return ok('UNSUBSCRIBE completed');
  },
};
