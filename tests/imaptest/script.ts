import fs from 'node:fs';
import path from 'node:path';

/**
 * Dovecot imaptest's scripted-test format (the data in tests/imaptest/data, described in its
 * scripted_test.md), parsed into steps: each step is one command, or several pipelined with tags,
 * sent on one connection, with the tagged status and response-code prefix expected, the untagged
 * replies that must arrive (`*`) and those that must not (`!`). Literals `{{{ … }}}` become IMAP
 * literals (`{n}` + CRLF + bytes) so commands and expected replies are plain IMAP text.
 */

export type ScriptState = 'nonauth' | 'auth' | 'created' | 'appended' | 'selected';

export interface ScriptCommand {
  /** The tag the script names (method 3), or null: the runner picks one. */
  tag: string | null;
  text: string;
  /** `ok`, `no`, `bad`, or `""` (any); null until the script says. */
  status: string | null;
  /** What must follow the status in the tagged reply (`[read-write]`), IMAP text. */
  prefix: string;
}

export interface ScriptStep {
  line: number;
  connection: number;
  commands: ScriptCommand[];
  expected: Array<{ line: number; text: string }>;
  banned: Array<{ line: number; text: string }>;
}

export interface Script {
  name: string;
  capabilities: string[];
  connections: number;
  /** How many messages to append (state appended and later): all of the mbox when undefined. */
  messages: number | undefined;
  state: ScriptState;
  /** Header keys the runner does not implement (`user 2`): the group is reported as unsupported. */
  unsupportedHeaders: string[];
  steps: ScriptStep[];
  mbox: MboxMessage[];
}

/** A message of an mbox file, with the date of its `From ` line (appended as its INTERNALDATE). */
export interface MboxMessage {
  raw: Buffer;
  /** `24-Mar-2007 23:00:00 +0200`, or null when the `From ` line has no date. */
  internalDate: string | null;
}

const STATUSES = new Set(['ok', 'no', 'bad', '""']);

/**
 * `{{{\n…\n}}}` → an IMAP literal (`~{{{` a literal8); the line break before `}}}` ends the literal,
 * lines end in CRLF (a line already ending in CR gets only the LF). Scripts are read as latin1, so
 * every byte of a literal (NUL, 8-bit) is sent as written.
 */
function literalize(text: string): string {
  return text.replace(/(~?)\{\{\{\n([\s\S]*?)\n?\}\}\}/g, (_all, tilde: string, body: string) => {
    const bytes = Buffer.from(body.replace(/\r?\n/g, '\r\n'), 'latin1');
    return `${tilde}{${bytes.length}}\r\n${bytes.toString('latin1')}`;
  });
}

/** Joins lines while a `{{{` is open; applies `!ifenv` (no variables are set: those blocks drop). */
function logicalLines(body: string[], firstLine: number): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  const active: boolean[] = [];
  const on = () => active.every(Boolean);
  for (let i = 0; i < body.length; i++) {
    const raw = body[i]!;
    if (/^!ifenv\b/.test(raw)) active.push(false);
    else if (/^!ifnenv\b/.test(raw)) active.push(true);
    else if (/^!else\b/.test(raw)) active.push(!active.pop());
    else if (/^!endif\b/.test(raw)) active.pop();
    else if (on()) {
      let text = raw;
      const start = i;
      while ((text.match(/\{\{\{/g) ?? []).length > (text.match(/\}\}\}/g) ?? []).length && i + 1 < body.length) text += `\n${body[++i]!}`;
      if (text.startsWith('#')) continue;
      out.push({ line: firstLine + start, text: text.trim() === '' ? '' : literalize(text) });
    }
  }
  return out;
}

function words(text: string): [string, string] {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text);
  return m ? [m[1]!, m[2]!] : ['', ''];
}

function parseSteps(lines: Array<{ line: number; text: string }>, connections: number): ScriptStep[] {
  const steps: ScriptStep[] = [];
  const openMethod2 = new Map<number, ScriptCommand>();
  const openTags = new Map<string, ScriptCommand>();
  let lastWasTagged = false;
  const entries = lines.map((l) => {
    let connection = 1;
    let text = l.text;
    const m = connections > 1 ? /^(\d+)\s+([\s\S]*)$/.exec(text) : null;
    if (m) {
      connection = Number(m[1]);
      text = m[2]!;
    }
    return { line: l.line, connection, text };
  });
  for (let i = 0; i < entries.length; i++) {
    const { line, connection, text } = entries[i]!;
    if (text === '') {
      lastWasTagged = false;
      continue;
    }
    const current = steps.at(-1);
    // `? reply`: the server may or may not send it.
    if (text.startsWith('? ')) continue;
    if (text.startsWith('* ') || text.startsWith('! ')) {
      if (!current) throw new Error(`line ${line}: reply before any command`);
      (text[0] === '*' ? current.expected : current.banned).push({ line, text: text.slice(2) });
      lastWasTagged = false;
      continue;
    }
    const [first, rest] = words(text);
    if (STATUSES.has(first.toLowerCase())) {
      const pending = openMethod2.get(connection);
      if (pending) {
        pending.status = first.toLowerCase();
        pending.prefix = rest;
        openMethod2.delete(connection);
      } else steps.push({ line, connection, commands: [{ tag: null, text: rest, status: first.toLowerCase(), prefix: '' }], expected: [], banned: [] });
      lastWasTagged = false;
      continue;
    }
    const [second, afterStatus] = words(rest);
    const tagged = openTags.get(`${connection} ${first}`);
    if (tagged && STATUSES.has(second.toLowerCase())) {
      tagged.status = second.toLowerCase();
      tagged.prefix = afterStatus;
      openTags.delete(`${connection} ${first}`);
      lastWasTagged = false;
      continue;
    }
    // A command: method 3 when a later line (before a blank one) closes its first word as a tag.
    let isTagged = false;
    for (let j = i + 1; j < entries.length && entries[j]!.text !== ''; j++) {
      const [t, s] = words(entries[j]!.text);
      if (entries[j]!.connection === connection && t === first && STATUSES.has(words(s)[0].toLowerCase())) isTagged = true;
    }
    if (isTagged) {
      const command: ScriptCommand = { tag: first, text: rest, status: null, prefix: '' };
      openTags.set(`${connection} ${first}`, command);
      if (lastWasTagged && current && current.connection === connection) current.commands.push(command);
      else steps.push({ line, connection, commands: [command], expected: [], banned: [] });
      lastWasTagged = true;
    } else {
      const command: ScriptCommand = { tag: null, text, status: null, prefix: '' };
      openMethod2.set(connection, command);
      steps.push({ line, connection, commands: [command], expected: [], banned: [] });
      lastWasTagged = false;
    }
  }
  for (const step of steps) for (const c of step.commands) if (c.status === null) throw new Error(`line ${step.line}: no status line for "${c.text}"`);
  return steps;
}

/** `From user@domain  Sat Mar 24 23:00:00 2007 +0200` → `24-Mar-2007 23:00:00 +0200` (no zone: +0000). */
function fromLineDate(line: string): string | null {
  const m = /\w{3} (\w{3}) +(\d{1,2}) (\d\d:\d\d:\d\d) (\d{4})(?: ([+-]\d{4}))?\s*$/.exec(line);
  return m ? `${m[2]!.padStart(2, '0')}-${m[1]}-${m[4]} ${m[3]} ${m[5] ?? '+0000'}` : null;
}

/** The messages of an mbox file: the text between `From ` lines, with CRLF line ends. */
export function parseMbox(text: string): MboxMessage[] {
  const parts = text.split(/^(From [^\n]*)\n/m);
  const messages: MboxMessage[] = [];
  for (let i = 1; i + 1 < parts.length; i += 2) messages.push({ raw: Buffer.from(parts[i + 1]!.replace(/\r?\n/g, '\r\n'), 'utf8'), internalDate: fromLineDate(parts[i]!) });
  return messages;
}

export function parseScript(name: string, text: string, mbox: MboxMessage[]): Script {
  const all = text.split('\n');
  const blank = all.findIndex((l) => l.trim() === '');
  const headerLines = blank < 0 ? [] : all.slice(0, blank);
  const header = new Map<string, string>();
  const unsupportedHeaders: string[] = [];
  for (const l of headerLines) {
    if (l.startsWith('#')) continue;
    const m = /^([^:]+):\s*(.*)$/.exec(l);
    if (!m) throw new Error(`${name}: bad header line "${l}"`);
    const key = m[1]!.trim().toLowerCase();
    if (['capabilities', 'connections', 'messages', 'state', 'ignore_extra_untagged'].includes(key)) header.set(key, m[2]!.trim());
    else unsupportedHeaders.push(key);
  }
  const connections = Number(header.get('connections') ?? '1');
  const messages = header.get('messages');
  return {
    name,
    capabilities: (header.get('capabilities') ?? '').split(/\s+/).filter(Boolean),
    connections,
    messages: messages === undefined || messages === 'all' ? undefined : Number(messages),
    state: (header.get('state') ?? 'selected') as ScriptState,
    unsupportedHeaders,
    steps: parseSteps(logicalLines(all.slice(blank + 1), blank + 2), connections),
    mbox,
  };
}

/** Every group in the directory (and its `broken/` subdirectory), with its mbox (or default.mbox). */
export function loadScripts(dir: string): Script[] {
  const out: Script[] = [];
  const visit = (sub: string) => {
    const here = path.join(dir, sub);
    for (const entry of fs.readdirSync(here, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.isDirectory()) {
        visit(path.join(sub, entry.name));
        continue;
      }
      if (entry.name.includes('.') || entry.name === 'COPYING') continue;
      const mboxPath = fs.existsSync(path.join(here, `${entry.name}.mbox`)) ? path.join(here, `${entry.name}.mbox`) : path.join(dir, 'default.mbox');
      const name = path.join(sub, entry.name);
      out.push(parseScript(name, fs.readFileSync(path.join(here, entry.name), 'latin1'), parseMbox(fs.readFileSync(mboxPath, 'utf8'))));
    }
  };
  visit('');
  return out;
}
