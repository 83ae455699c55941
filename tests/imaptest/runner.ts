import net from 'node:net';
import { matchPrefix, matchUntagged, serialize, substitute, tokenize, type Vars } from './match.js';
import type { Script, ScriptStep } from './script.js';

/**
 * Runs imaptest scripted groups (script.ts) against an IMAP server over plain sockets on
 * loopback: a fresh account per group, the group's state set up (login, the test mailbox created,
 * the mbox appended, selected on every connection), then each step sent and its replies matched
 * (match.ts). A group is `skipped` when it needs a capability the server does not advertise.
 */

export interface GroupResult {
  group: string;
  result: 'pass' | 'fail' | 'skipped';
  /** The first mismatch, or the capabilities that are missing. */
  detail: string;
}

export interface RunnerTarget {
  port: number;
  /** A fresh account for one group. */
  newAccount(): Promise<{ user: string; password: string }>;
  /** Per reply wait. */
  timeoutMs?: number;
}

class RunnerFailure extends Error {}

/** One connection: complete responses (literals inline, latin1) as they arrive. */
class Connection {
  private buffer = Buffer.alloc(0);
  private scanFrom = 0;
  private responses: string[] = [];
  private wake: (() => void) | null = null;
  private closed = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.split();
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number, timeoutMs: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new Connection(socket, timeoutMs)));
      socket.once('error', reject);
    });
  }

  private split(): void {
    for (;;) {
      const end = this.buffer.indexOf('\r\n', this.scanFrom);
      if (end < 0) return;
      const literal = /\{(\d+)\}$/.exec(this.buffer.subarray(Math.max(0, end - 20), end).toString('latin1'));
      if (literal) {
        const after = end + 2 + Number(literal[1]);
        if (this.buffer.length < after) return;
        this.scanFrom = after;
        continue;
      }
      this.responses.push(this.buffer.subarray(0, end).toString('latin1'));
      this.buffer = this.buffer.subarray(end + 2);
      this.scanFrom = 0;
    }
  }

  /** Takes responses until `done` accepts one (inclusive). */
  async until(done: (response: string) => boolean, what: string): Promise<string[]> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const index = this.responses.findIndex(done);
      if (index >= 0) return this.responses.splice(0, index + 1);
      if (this.closed) throw new RunnerFailure(`connection closed waiting for ${what}; got ${JSON.stringify(this.responses.slice(-5))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new RunnerFailure(`no reply within ${this.timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.responses.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        };
      });
    }
  }

  take(): string[] {
    return this.responses.splice(0);
  }

  write(text: string): void {
    this.socket.write(Buffer.from(text, 'latin1'));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Literals as LITERAL+ (`{n+}`, a literal8 as `~{n+}`); variables substituted outside literals. */
function prepare(text: string, vars: Vars): string {
  let out = '';
  let pos = 0;
  const re = /(~?)\{(\d+)\}\r\n/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out += substitute(text.slice(pos, m.index), vars) + `${m[1]}{${m[2]}+}\r\n` + text.slice(re.lastIndex, re.lastIndex + Number(m[2]));
    pos = re.lastIndex + Number(m[2]);
    re.lastIndex = pos;
  }
  return out + substitute(text.slice(pos), vars);
}

const quote = (s: string) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;

export async function serverCapabilities(target: RunnerTarget): Promise<string[]> {
  const account = await target.newAccount();
  const conn = await Connection.open(target.port, target.timeoutMs ?? 10_000);
  try {
    await conn.until((r) => r.startsWith('* '), 'the greeting');
    conn.write(`c1 LOGIN ${quote(account.user)} ${quote(account.password)}\r\nc2 CAPABILITY\r\n`);
    const lines = await conn.until((r) => r.startsWith('c2 '), 'CAPABILITY');
    const caps = lines.find((l) => /^\* CAPABILITY /i.test(l));
    if (!caps) throw new Error(`no CAPABILITY reply: ${JSON.stringify(lines)}`);
    return caps.split(' ').slice(2);
  } finally {
    conn.close();
  }
}

/** Runs one group; never throws for a protocol mismatch (that is a `fail`). */
export async function runGroup(script: Script, target: RunnerTarget, capabilities: readonly string[]): Promise<GroupResult> {
  const have = new Set(capabilities.map((c) => c.toUpperCase()));
  const missing = script.capabilities.filter((c) => !have.has(c.toUpperCase()));
  if (missing.length > 0) return { group: script.name, result: 'skipped', detail: `needs ${missing.join(' ')}` };
  if (script.unsupportedHeaders.length > 0) return { group: script.name, result: 'skipped', detail: `needs runner support for ${script.unsupportedHeaders.join(', ')}` };
  const timeoutMs = target.timeoutMs ?? 10_000;
  const account = await target.newAccount();
  const [username, domain] = account.user.split('@') as [string, string];
  const vars: Vars = new Map([
    ['user', account.user],
    ['username', username],
    ['domain', domain],
    ['password', account.password],
    ['mailbox', 'imaptest'],
  ]);
  const connections: Connection[] = [];
  let nextMessage = 0;
  let tagCounter = 0;
  const appendLiteral = () => {
    const { raw, internalDate } = script.mbox[nextMessage++ % script.mbox.length]!;
    return `${internalDate ? `"${internalDate}" ` : ''}{${raw.length}+}\r\n${raw.toString('latin1')}`;
  };
  const setup = async (conn: Connection, command: string) => {
    const tag = `s${++tagCounter}`;
    conn.write(`${tag} ${command}\r\n`);
    const lines = await conn.until((r) => r.startsWith(`${tag} `), command.split(' ')[0]!);
    if (!/^\S+ OK/i.test(lines.at(-1)!)) throw new RunnerFailure(`setup ${command.slice(0, 40)}: ${lines.at(-1)}`);
  };
  try {
    for (let i = 0; i < script.connections; i++) {
      const conn = await Connection.open(target.port, timeoutMs);
      connections.push(conn);
      await conn.until((r) => r.startsWith('* '), 'the greeting');
    }
    const states = ['nonauth', 'auth', 'created', 'appended', 'selected'];
    const reached = (state: string) => states.indexOf(script.state) >= states.indexOf(state);
    if (reached('auth')) for (const conn of connections) await setup(conn, `LOGIN ${quote(account.user)} ${quote(account.password)}`);
    if (reached('created')) await setup(connections[0]!, 'CREATE imaptest');
    if (reached('appended')) {
      const count = script.messages ?? script.mbox.length;
      for (let i = 0; i < count; i++) await setup(connections[0]!, `APPEND imaptest ${appendLiteral()}`);
      nextMessage = 0;
    }
    if (reached('selected')) for (const conn of connections) await setup(conn, 'SELECT imaptest');
    for (const conn of connections) conn.take();

    for (const step of script.steps) {
      const failure = await runStep(step, connections, vars, () => `t${++tagCounter}`, appendLiteral);
      if (failure) return { group: script.name, result: 'fail', detail: `line ${failure.line}: ${failure.message}` };
    }
    return { group: script.name, result: 'pass', detail: '' };
  } catch (err) {
    if (err instanceof RunnerFailure) return { group: script.name, result: 'fail', detail: err.message };
    throw err;
  } finally {
    for (const conn of connections) conn.close();
  }
}

async function runStep(step: ScriptStep, connections: Connection[], vars: Vars, newTag: () => string, appendLiteral: () => string): Promise<{ line: number; message: string } | null> {
  const conn = connections[step.connection - 1];
  if (!conn) return { line: step.line, message: `no connection ${step.connection}` };
  const sent = step.commands.map((command) => {
    let text = prepare(command.text, vars);
    if (/^append\b/i.test(text) && !/\{\d+\+?\}\r\n/.test(text)) text = `${/^append\s*$/i.test(text) ? 'APPEND imaptest' : text} ${appendLiteral()}`;
    return { command, tag: command.tag ?? newTag(), text };
  });
  for (const s of sent) conn.write(`${s.tag} ${s.text}\r\n`);
  const tags = new Set(sent.map((s) => s.tag));
  const replies: string[] = [];
  const tagged = new Map<string, string>();
  while (tagged.size < tags.size) {
    const got = await conn.until((r) => tags.has(r.split(' ')[0]!) && !tagged.has(r.split(' ')[0]!), `the reply to "${sent.map((s) => s.text.slice(0, 60)).join('; ')}"`);
    const last = got.pop()!;
    tagged.set(last.split(' ')[0]!, last);
    replies.push(...got);
  }
  const untagged = replies.filter((r) => r.startsWith('* ')).map((r) => tokenize(r.slice(2)));
  // `$tag`: the tag of the (last) command sent.
  vars.set('tag', sent.at(-1)!.tag);
  for (const s of sent) {
    const reply = tokenize(tagged.get(s.tag)!);
    const status = reply[1] ? serialize(reply[1]).toLowerCase() : '';
    if (s.command.status !== '""' && status !== s.command.status) return { line: step.line, message: `"${s.text.slice(0, 80)}" answered ${tagged.get(s.tag)!.slice(0, 200)}, expected ${s.command.status}` };
    if (!matchPrefix(s.command.prefix, reply.slice(2), vars)) return { line: step.line, message: `"${s.text.slice(0, 80)}" answered ${tagged.get(s.tag)!.slice(0, 200)}, expected ${s.command.status} ${s.command.prefix}` };
  }
  for (const expected of step.expected) {
    if (!untagged.some((actual) => matchUntagged(expected.text, actual, vars))) {
      return { line: expected.line, message: `expected "* ${substitute(expected.text, vars).slice(0, 200)}"; got ${JSON.stringify(replies.map((r) => r.slice(0, 200)).slice(0, 12))}` };
    }
  }
  for (const banned of step.banned) {
    const hit = untagged.findIndex((actual) => matchUntagged(banned.text, actual, new Map(vars)));
    if (hit >= 0) return { line: banned.line, message: `unexpected "* ${serializeLine(replies.filter((r) => r.startsWith('* '))[hit]!)}" (matches "! ${banned.text.slice(0, 100)}")` };
  }
  return null;
}

const serializeLine = (r: string) => r.slice(2, 200);
