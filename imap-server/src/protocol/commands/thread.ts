import { ImapParseError, type Token } from '../parser.js';
import { tokenText } from './args.js';
import { parseSearch, type SearchKey } from './search.js';
import { subjectOf } from './sort.js';

/**
 * THREAD (RFC 5256): `THREAD <algorithm> <charset> <search keys>` and the two algorithms,
 * ORDEREDSUBJECT and REFERENCES, as pure functions from the matching messages to the thread
 * tree, and the tree written as the response's nested lists.
 */

export type ThreadAlgorithm = 'ORDEREDSUBJECT' | 'REFERENCES';

export interface ThreadCommand {
  algorithm: ThreadAlgorithm;
  key: SearchKey;
}

export function parseThread(tokens: readonly Token[], tag: string): ThreadCommand {
  if (!tokens[0]) throw new ImapParseError('missing threading algorithm', tag);
  const algorithm = tokenText(tokens[0], 'threading algorithm', tag).toUpperCase();
  if (algorithm !== 'ORDEREDSUBJECT' && algorithm !== 'REFERENCES') throw new ImapParseError(`unknown threading algorithm ${JSON.stringify(algorithm.slice(0, 20))}`, tag);
  if (!tokens[1]) throw new ImapParseError('missing charset', tag);
  if (!tokens[2]) throw new ImapParseError('missing search key', tag);
  const { key } = parseSearch([{ type: 'atom', value: 'CHARSET' }, ...tokens.slice(1)], tag);
  return { algorithm, key };
}

/** What threading needs of one message. `number`: what the response shows (sequence number or UID). */
export interface ThreadInput {
  number: number;
  /** The Message-ID, or null when it has none. */
  messageId: string | null;
  /** The References ids, oldest first; the In-Reply-To id when there is no References field. */
  references: readonly string[];
  subject: string;
  /** Sent date (the Date header), or the internal date when it has none, in ms. */
  date: number;
}

/** A node of the tree: a message, or a dummy (a referenced message that is not there) when `message` is null. */
export interface ThreadNode {
  message: ThreadInput | null;
  children: ThreadNode[];
}

/** Sent date, then the order given (the sequence order), as section 2.2 sorts. */
function byDate(a: ThreadNode, b: ThreadNode, order: Map<ThreadInput, number>): number {
  const x = firstMessage(a);
  const y = firstMessage(b);
  if (!x || !y) return 0;
  return x.date - y.date || order.get(x)! - order.get(y)!;
}

/** The node's message, or a dummy's first child's. */
function firstMessage(node: ThreadNode): ThreadInput | null {
  return node.message ?? (node.children[0] ? firstMessage(node.children[0]) : null);
}

/** ORDEREDSUBJECT: by base subject then date; the first of each subject is the parent of the rest; threads in the date order of their parents. */
export function threadOrderedSubject(messages: readonly ThreadInput[]): ThreadNode[] {
  const order = new Map(messages.map((m, i) => [m, i]));
  const groups = new Map<string, ThreadInput[]>();
  for (const m of messages) {
    const key = subjectOf(m.subject).base.toUpperCase();
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  const threads = [...groups.values()].map((group): ThreadNode => {
    const [first, ...rest] = [...group].sort((a, b) => a.date - b.date || order.get(a)! - order.get(b)!);
    return { message: first!, children: rest.map((m) => ({ message: m, children: [] })) };
  });
  return threads.sort((a, b) => byDate(a, b, order));
}

interface Container extends ThreadNode {
  parent: Container | null;
  children: Container[];
}

/** Whether `node` is `ancestor` or below it. */
function isWithin(node: Container, ancestor: Container): boolean {
  for (let n: Container | null = node; n; n = n.parent) if (n === ancestor) return true;
  return false;
}

function unlink(child: Container): void {
  if (!child.parent) return;
  child.parent.children = child.parent.children.filter((c) => c !== child);
  child.parent = null;
}

function link(parent: Container, child: Container): void {
  child.parent = parent;
  parent.children.push(child);
}

/** REFERENCES (RFC 5256 section 3, after Jamie Zawinski): threads from the reference chains, then merged by base subject. */
export function threadReferences(messages: readonly ThreadInput[]): ThreadNode[] {
  const order = new Map(messages.map((m, i) => [m, i]));
  const byId = new Map<string, Container>();
  const containerFor = (id: string): Container => {
    let c = byId.get(id);
    if (!c) byId.set(id, (c = { message: null, children: [], parent: null }));
    return c;
  };
  const all: Container[] = [];

  // (1) Link each message to its references; a message with no (or a duplicate) Message-ID gets a container of its own.
  for (const m of messages) {
    let own: Container;
    const existing = m.messageId !== null ? byId.get(m.messageId) : undefined;
    if (m.messageId !== null && (!existing || existing.message === null)) {
      own = containerFor(m.messageId);
      own.message = m;
    } else {
      own = { message: m, children: [], parent: null };
      all.push(own);
    }
    // (1A) Each reference the parent of the next, unless the next has a parent already or it would make a loop.
    const refs = m.references.map(containerFor);
    for (let i = 0; i + 1 < refs.length; i++) {
      const [parent, child] = [refs[i]!, refs[i + 1]!];
      if (child.parent || parent === child || isWithin(parent, child)) continue;
      link(parent, child);
    }
    // (1B) The last reference is the message's parent: a different parent it had goes, and no loop is made.
    const last = refs.at(-1) ?? null;
    if (own.parent !== last) {
      unlink(own);
      if (last && last !== own && !isWithin(last, own)) link(last, own);
    }
  }

  // (2) The root set: everything without a parent.
  const roots = [...byId.values(), ...all].filter((c) => !c.parent);

  // (3) Dummies go: childless ones vanish, their children move up (at the top only when there is one).
  const prune = (nodes: Container[], top: boolean): Container[] =>
    nodes.flatMap((node) => {
      node.children = prune(node.children, false);
      if (node.message) return [node];
      if (node.children.length === 0) return [];
      if (top && node.children.length > 1) return [node];
      for (const c of node.children) c.parent = node.parent;
      return node.children;
    });
  const top: ThreadNode[] = prune(roots, true);

  // (4) The top level in date order (a dummy by its first child, after sorting its children).
  for (const node of top) if (!node.message) node.children.sort((a, b) => byDate(a, b, order));
  top.sort((a, b) => byDate(a, b, order));

  // (5) Threads with the same base subject are merged.
  const subjects = new Map<string, ThreadNode>();
  const threadSubject = (node: ThreadNode) => {
    const first = node.message ?? node.children[0]?.message ?? null;
    return first ? subjectOf(first.subject) : { base: '', reply: false };
  };
  const isReply = (node: ThreadNode) => node.message !== null && subjectOf(node.message.subject).reply;
  for (const node of top) {
    const subject = threadSubject(node).base.toUpperCase();
    if (!subject) continue;
    const there = subjects.get(subject);
    if (!there || (there.message && (!node.message || (isReply(there) && !isReply(node))))) subjects.set(subject, node);
  }
  const merged: ThreadNode[] = [...top];
  const absorbed = new Set<ThreadNode>();
  for (const node of top) {
    const subject = threadSubject(node).base.toUpperCase();
    const there = subject ? subjects.get(subject) : undefined;
    if (absorbed.has(node) || !there || there === node) continue;
    absorbed.add(node);
    if (!there.message && !node.message) there.children.push(...node.children);
    else if (!there.message || (isReply(node) && !isReply(there))) there.children.push(node);
    else {
      // A new dummy over both takes the place of the one in the table.
      const dummy: ThreadNode = { message: null, children: [there, node] };
      merged[merged.indexOf(there)] = dummy;
      absorbed.add(there);
      subjects.set(subject, dummy);
    }
  }

  // (6) Every set of siblings in date order, the deepest first.
  const sortTree = (nodes: ThreadNode[]) => {
    for (const n of nodes) sortTree(n.children);
    nodes.sort((a, b) => byDate(a, b, order));
  };
  const threads = merged.filter((n) => !absorbed.has(n));
  sortTree(threads);
  return threads;
}

/** The response's thread list: `(1 2 (3)(4 5))(6)` — a chain while a message has one child, nested lists for several. */
export function formatThreads(threads: readonly ThreadNode[]): string {
  const list = (node: ThreadNode): string => `(${members(node)})`;
  const members = (node: ThreadNode): string => {
    if (!node.message) return node.children.map(list).join('');
    const numbers = [node.message.number];
    let children = node.children;
    while (children.length === 1 && children[0]!.message) {
      numbers.push(children[0]!.message.number);
      children = children[0]!.children;
    }
    return `${numbers.join(' ')}${children.length > 0 ? ` ${children.map(list).join('')}` : ''}`;
  };
  return threads.map(list).join('');
}
