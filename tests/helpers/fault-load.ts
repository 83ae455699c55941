import net from 'node:net';
import { REMOTE_MAILBOX, SENDER_DOMAIN, type FaultStack, type FaultUser } from './fault-stack.js';

/**
 * The load of a fault run, with the books kept per message: MX mail over several SMTP connections
 * (each message has a unique id in `X-Fault-Id`, its Message-ID and Subject) and sends through the
 * backend API (each to a local user and to the remote Postfix). A client that gets a 4xx, or loses
 * its connection, retries like a real MTA; a 5xx is a permanent refusal and is only counted.
 * `verifyFaultRun` then reads the database and the remote's Maildir and says, per message, whether
 * it was stored exactly once.
 */

export interface LoadPlan {
  /** Tag of the run; part of every subject, so runs never count each other's mail. */
  tag: string;
  messages: number;
  connections: number;
  apiSends: number;
  apiConcurrency: number;
  /** Every message must be answered 250 (or 202) by then. */
  deadlineMs: number;
}

export interface SmtpBook {
  accepted: number;
  /** 4xx replies (at connect, MAIL, RCPT, DATA or end of data). */
  tempRefused: number;
  /** 5xx replies: a sender would give up, so any is a failure. */
  permRefused: number;
  /** Connections refused or dropped. */
  connectionErrors: number;
  /** Messages whose end-of-data went out and no reply came back (the connection dropped): the retry may be a second copy (RFC 1047). */
  unanswered: Set<string>;
  /** id → recipient user, for every message answered 250. */
  acceptedIds: Map<string, FaultUser>;
}

export interface ApiBook {
  accepted: number;
  /** Error responses (4xx/5xx), each retried; by status code. */
  errors: Record<string, number>;
  /** Connections refused (the backend was down): retried. */
  connectionErrors: number;
  /**
   * Requests that were sent and got no answer (the backend died) and were not accepted when sent
   * again (the load's deadline passed): the outcome is unknown to the client.
   */
  unanswered: Map<string, { from: FaultUser; to: FaultUser }>;
  /** Sends that got no answer and were sent again with the same Idempotency-Key (then accepted: stored once). */
  retriedAfterNoAnswer: number;
  acceptedIds: Map<string, { from: FaultUser; to: FaultUser }>;
}

interface Reply {
  code: number;
  text: string;
}

/** A plain SMTP client connection: one command, one reply. */
class SmtpConnection {
  private buffer = '';
  private lines: string[] = [];
  private waiting: ((r: Reply | Error) => void) | null = null;
  private failure: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setTimeout(60_000, () => socket.destroy(new Error('reply timeout')));
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) !== -1) {
        const line = this.buffer.slice(0, nl).replace(/\r$/, '');
        this.buffer = this.buffer.slice(nl + 1);
        this.lines.push(line);
        if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
          const reply = { code: Number(line.slice(0, 3)), text: this.lines.join('\n') };
          this.lines = [];
          const w = this.waiting;
          this.waiting = null;
          w?.(reply);
        }
      }
    });
    const fail = (err: Error) => {
      this.failure ??= err;
      const w = this.waiting;
      this.waiting = null;
      w?.(this.failure);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static open(port: number): Promise<{ conn: SmtpConnection; greeting: Reply }> {
    const socket = net.connect(port, '127.0.0.1');
    const conn = new SmtpConnection(socket);
    return conn.next().then((greeting) => ({ conn, greeting }));
  }

  private next(): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = (r) => (r instanceof Error ? reject(r) : resolve(r));
    });
  }

  send(text: string): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const reply = this.next();
    this.socket.write(text);
    return reply;
  }

  close(): void {
    if (!this.failure) this.socket.end('QUIT\r\n');
    this.socket.destroy();
  }
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

function messageBytes(id: string, to: string): string {
  const filler = `${'The quick brown fox jumps over the lazy dog. '.repeat(2)}\r\n`.repeat(12);
  return [
    `From: Load <load@${SENDER_DOMAIN}>`,
    `To: ${to}`,
    `Subject: fault ${id}`,
    `Message-ID: <${id}@${SENDER_DOMAIN}>`,
    `X-Fault-Id: ${id}`,
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `Message ${id}.`,
    filler,
  ].join('\r\n');
}

/** Sends `plan.messages` MX messages to the users round-robin over `plan.connections` connections; resolves when all got 250. */
export async function runSmtpLoad(stack: FaultStack, plan: LoadPlan, book: SmtpBook): Promise<void> {
  const queue: Array<{ id: string; to: FaultUser }> = [];
  for (let n = 0; n < plan.messages; n++) queue.push({ id: `${plan.tag}-m${n}`, to: stack.users[n % stack.users.length]! });
  const deadline = Date.now() + plan.deadlineMs;
  let outstanding = queue.length;

  const worker = async () => {
    let conn: SmtpConnection | null = null;
    while (outstanding > 0) {
      if (Date.now() > deadline) throw new Error(`SMTP load: ${outstanding} message(s) not accepted within ${plan.deadlineMs} ms`);
      const item = queue.shift();
      if (!item) {
        await wait(50); // another connection holds the last messages; one may come back for a retry
        continue;
      }
      let dataSent = false;
      try {
        if (!conn) {
          const opened = await SmtpConnection.open(stack.smtpPort);
          if (opened.greeting.code !== 220) {
            opened.conn.close();
            throw Object.assign(new Error(`greeting ${opened.greeting.text}`), { reply: opened.greeting });
          }
          conn = opened.conn;
          const ehlo = await conn.send(`EHLO load.${SENDER_DOMAIN}\r\n`);
          if (ehlo.code !== 250) throw Object.assign(new Error(`EHLO ${ehlo.text}`), { reply: ehlo });
        }
        const steps = [`MAIL FROM:<load@${SENDER_DOMAIN}>\r\n`, `RCPT TO:<${item.to.address}>\r\n`, 'DATA\r\n'];
        for (const step of steps) {
          const reply = await conn.send(step);
          if (reply.code >= 400 || (step === 'DATA\r\n' ? reply.code !== 354 : reply.code !== 250)) throw Object.assign(new Error(`${step.trim()}: ${reply.text}`), { reply });
        }
        dataSent = true;
        const end = await conn.send(`${messageBytes(item.id, item.to.address)}\r\n.\r\n`);
        if (end.code !== 250) throw Object.assign(new Error(`end of data: ${end.text}`), { reply: end });
        book.accepted++;
        book.acceptedIds.set(item.id, item.to);
        outstanding--;
      } catch (err) {
        const reply = (err as { reply?: Reply }).reply;
        if (reply && reply.code >= 500) {
          book.permRefused++;
          outstanding--; // a sender gives up on a 5xx; counted, and the run fails
        } else {
          if (reply) book.tempRefused++;
          else {
            book.connectionErrors++;
            if (dataSent) book.unanswered.add(item.id);
          }
          queue.push(item); // retried later, like a real MTA (compressed)
        }
        // After any failure start clean: a new connection (the old one may be mid-transaction or dead).
        conn?.close();
        conn = null;
        await wait(reply ? 100 : 200);
      }
    }
    conn?.close();
  };
  await Promise.all(Array.from({ length: plan.connections }, () => worker()));
}

/** Signs a user in over HTTP; sets the undo delay to 0 so a send is normally filed in the request. */
async function signIn(baseUrl: string, user: FaultUser): Promise<Record<string, string>> {
  const res = await fetch(`${baseUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: user.address, password: user.password }) });
  if (res.status !== 200) throw new Error(`login ${user.address}: ${res.status} ${await res.text()}`);
  const cookie = /mailyard_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0];
  if (!cookie) throw new Error('no session cookie');
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  const headers = { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' };
  const settings = await fetch(`${baseUrl}/api/account/settings`, { method: 'PATCH', headers, body: JSON.stringify({ undoSendSeconds: 0 }) });
  if (settings.status !== 200) throw new Error(`settings ${user.address}: ${settings.status} ${await settings.text()}`);
  return headers;
}

/** Signs every user in once (sessions live in PostgreSQL, so they survive backend restarts). */
export async function signInAll(stack: FaultStack): Promise<Map<number, Record<string, string>>> {
  const sessions = new Map<number, Record<string, string>>();
  for (const user of stack.users) sessions.set(user.id, await signIn(`http://127.0.0.1:${stack.httpPort}`, user));
  return sessions;
}

/**
 * Sends `plan.apiSends` messages through POST /api/messages/send, `plan.apiConcurrency` at once,
 * user i to user i+1 and to the remote mailbox. Error responses and refused connections are retried;
 * a request that got no answer is not (its outcome is unknown to the client).
 */
export async function runApiLoad(stack: FaultStack, sessions: Map<number, Record<string, string>>, plan: LoadPlan, book: ApiBook): Promise<void> {
  const baseUrl = `http://127.0.0.1:${stack.httpPort}`;
  const queue = Array.from({ length: plan.apiSends }, (_, n) => ({ id: `${plan.tag}-a${n}`, from: stack.users[n % stack.users.length]!, to: stack.users[(n + 1) % stack.users.length]! }));
  const deadline = Date.now() + plan.deadlineMs;
  const worker = async () => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      for (;;) {
        if (Date.now() > deadline) {
          if (book.unanswered.has(item.id)) break; // its outcome stays unknown; the books check it is stored at most once
          throw new Error(`API load: ${item.id} not accepted within ${plan.deadlineMs} ms`);
        }
        let res: Response;
        try {
          res = await fetch(`${baseUrl}/api/messages/send`, {
            method: 'POST',
            // One key per message, the same on every retry: a 503 for a send whose row was committed anyway (PostgreSQL killed
            // between the commit and its answer) is answered with that row, not stored twice.
            headers: { ...sessions.get(item.from.id)!, 'idempotency-key': item.id },
            body: JSON.stringify({ to: [item.to.address, REMOTE_MAILBOX], subject: `fault ${item.id}`, text: `API message ${item.id}.` }),
            signal: AbortSignal.timeout(60_000),
          });
        } catch (err) {
          const code = (err as { cause?: { code?: string } }).cause?.code;
          book.connectionErrors++;
          if (code === 'ECONNREFUSED') {
            await wait(200);
            continue;
          }
          // No answer: the send may or may not be stored. The same key again makes the retry safe.
          book.unanswered.set(item.id, item);
          book.retriedAfterNoAnswer++;
          await wait(200);
          continue;
        }
        const body = await res.text();
        // 202: sent, or held in the store when sending at once failed (the worker sends it).
        if (res.status === 202) {
          book.unanswered.delete(item.id);
          book.accepted++;
          book.acceptedIds.set(item.id, item);
          break;
        }
        book.errors[res.status] = (book.errors[res.status] ?? 0) + 1;
        if (res.status < 500 && res.status !== 429 && res.status !== 408) throw new Error(`API send ${item.id}: ${res.status} ${body}`);
        await wait(300);
      }
    }
  };
  await Promise.all(Array.from({ length: plan.apiConcurrency }, () => worker()));
}

export function newSmtpBook(): SmtpBook {
  return { accepted: 0, tempRefused: 0, permRefused: 0, connectionErrors: 0, unanswered: new Set(), acceptedIds: new Map() };
}

export function newApiBook(): ApiBook {
  return { accepted: 0, errors: {}, connectionErrors: 0, unanswered: new Map(), retriedAfterNoAnswer: 0, acceptedIds: new Map() };
}

