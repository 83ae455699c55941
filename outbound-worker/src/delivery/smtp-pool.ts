import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { KeyedSemaphore, type Logger } from '@mailyard/core';

/**
 * SMTP client side of delivery: connections to remote MX hosts (opportunistic STARTTLS, EHLO with
 * our hostname), kept open for a few seconds and reused for the next message to the same host,
 * and the remote's replies turned into a verdict per recipient.
 */

export type RecipientVerdict = 'delivered' | 'deferred' | 'bounced';

export interface RecipientResult {
  recipient: string;
  verdict: RecipientVerdict;
  reply: string;
}

export type AttemptResult =
  /** The host answered for every recipient. */
  | { kind: 'answered'; results: RecipientResult[]; tls: boolean }
  /** No usable SMTP session (refused, timeout, bad greeting): another host may be tried. */
  | { kind: 'unreachable'; reply: string };

export interface SmtpPoolOptions {
  hostname: string;
  port: number;
  connectTimeoutMs: number;
  socketTimeoutMs: number;
  /** An idle connection is closed after this long. */
  idleMs?: number;
  maxMessagesPerConnection?: number;
  /** Transactions at once to one host address (Postfix's default destination concurrency is 20). */
  maxConnectionsPerHost?: number;
  log: Logger;
}

interface NodemailerError extends Error {
  code?: string;
  command?: string;
  response?: string;
  responseCode?: number;
  recipient?: string;
  rejectedErrors?: NodemailerError[];
}

interface Pooled {
  conn: SMTPConnection;
  alive: boolean;
  messages: number;
  idleTimer?: NodeJS.Timeout;
}

/** A remote reply as one line of printable text (it is stored, logged and put in DSNs). */
function oneLine(text: string | undefined): string {
  return (text ?? '')
    .replace(/\s*\r?\n\s*/g, ' ')
    .replace(/[\u0000-\u001f\u007f]/g, ' ') // eslint-disable-line no-control-regex
    .trim()
    .slice(0, 1000);
}

function verdictOf(code: number | undefined): RecipientVerdict {
  return code !== undefined && code >= 500 ? 'bounced' : 'deferred';
}

/** Turns a failed send into per-recipient results, or 'unreachable' when the session itself failed. */
export function classifyFailure(err: NodemailerError, recipients: string[], envelopeRejected: NodemailerError[]): AttemptResult {
  const reply = oneLine(err.response) || `${err.code ?? 'ERROR'}: ${oneLine(err.message)}`;
  const rejected = new Map((err.rejectedErrors ?? envelopeRejected).filter((e) => e.recipient).map((e) => [e.recipient!, e]));
  const perRecipient = (fallback: RecipientVerdict): RecipientResult[] =>
    recipients.map((recipient) => {
      const r = rejected.get(recipient);
      return r ? { recipient, verdict: verdictOf(r.responseCode), reply: oneLine(r.response) } : { recipient, verdict: fallback, reply };
    });
  if (err.code === 'EENVELOPE' && err.command === 'MAIL FROM') return { kind: 'answered', tls: false, results: perRecipient(verdictOf(err.responseCode)) };
  if (err.code === 'EENVELOPE' && err.command === 'RCPT TO') return { kind: 'answered', tls: false, results: perRecipient('deferred') };
  if (err.code === 'EMESSAGE' && err.responseCode === undefined) {
    // Our own SIZE check against the limit the server announced: it would refuse the message.
    return { kind: 'answered', tls: false, results: recipients.map((recipient) => ({ recipient, verdict: 'bounced', reply: `552 5.3.4 ${oneLine(err.message)}` })) };
  }
  if ((err.code === 'EENVELOPE' || err.code === 'EMESSAGE') && err.command === 'DATA') {
    return { kind: 'answered', tls: false, results: perRecipient(verdictOf(err.responseCode)) };
  }
  if (err.command === 'DATA' || err.command === '.') {
    // Lost after the message went out: it may have been delivered. Retry later (RFC 5321 6.1
    // accepts a possible duplicate over a possible loss).
    return { kind: 'answered', tls: false, results: recipients.map((recipient) => ({ recipient, verdict: 'deferred', reply })) };
  }
  return { kind: 'unreachable', reply };
}

export class SmtpPool {
  private readonly idle = new Map<string, Pooled[]>();
  private readonly open = new Set<Pooled>();
  /** Per host address: transactions running at once. */
  private readonly slots: KeyedSemaphore<string>;
  private closed = false;

  constructor(private readonly options: SmtpPoolOptions) {
    this.slots = new KeyedSemaphore(options.maxConnectionsPerHost ?? 20);
  }

  private connect(ip: string, exchange: string): Promise<Pooled> {
    const { options } = this;
    const conn = new SMTPConnection({
      host: ip,
      port: options.port,
      name: options.hostname,
      secure: false,
      // RFC 3207 + RFC 7435: STARTTLS whenever offered, without authenticating the certificate
      // (MX host names are not authenticated by plain DNS); fall back to plain text if TLS fails.
      opportunisticTLS: true,
      tls: { rejectUnauthorized: false, servername: exchange },
      connectionTimeout: options.connectTimeoutMs,
      greetingTimeout: options.connectTimeoutMs,
      socketTimeout: options.socketTimeoutMs,
    });
    const pooled: Pooled = { conn, alive: true, messages: 0 };
    this.open.add(pooled);
    const gone = () => {
      pooled.alive = false;
      if (pooled.idleTimer) clearTimeout(pooled.idleTimer);
      this.open.delete(pooled);
    };
    conn.on('end', gone);
    return new Promise((resolve, reject) => {
      let settled = false;
      conn.on('error', (err: Error) => {
        gone();
        if (!settled) {
          settled = true;
          reject(err);
        }
      });
      conn.connect(() => {
        settled = true;
        resolve(pooled);
      });
    });
  }

  private takeIdle(key: string): Pooled | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const pooled = list.pop()!;
      if (pooled.idleTimer) clearTimeout(pooled.idleTimer);
      if (pooled.alive) return pooled;
    }
    return undefined;
  }

  private release(key: string, pooled: Pooled, reusable: boolean): void {
    if (!reusable || this.closed || !pooled.alive || pooled.messages >= (this.options.maxMessagesPerConnection ?? 100)) {
      this.quit(pooled);
      return;
    }
    const list = this.idle.get(key) ?? [];
    list.push(pooled);
    this.idle.set(key, list);
    pooled.idleTimer = setTimeout(() => {
      const at = list.indexOf(pooled);
      if (at !== -1) list.splice(at, 1);
      this.quit(pooled);
    }, this.options.idleMs ?? 5_000);
    pooled.idleTimer.unref();
  }

  private quit(pooled: Pooled): void {
    if (pooled.idleTimer) clearTimeout(pooled.idleTimer);
    if (pooled.alive) {
      pooled.alive = false;
      try {
        pooled.conn.quit();
      } catch {
        pooled.conn.close();
      }
    }
    this.open.delete(pooled);
  }

  /** One message to one host address, for `recipients` (all in one domain). */
  async deliver(target: { ip: string; exchange: string }, envelope: { from: string; to: string[] }, raw: Buffer): Promise<AttemptResult> {
    const key = `${target.ip}:${this.options.port}`;
    const release = await this.slots.acquire(key);
    try {
      return await this.transaction(key, target, envelope, raw);
    } finally {
      release();
    }
  }

  private async transaction(key: string, target: { ip: string; exchange: string }, envelope: { from: string; to: string[] }, raw: Buffer): Promise<AttemptResult> {
    let pooled = this.takeIdle(key);
    if (!pooled) {
      try {
        pooled = await this.connect(target.ip, target.exchange);
      } catch (err) {
        return classifyFailure(err as NodemailerError, envelope.to, []);
      }
    }
    const { conn } = pooled;
    pooled.messages++;
    try {
      const info = await new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) => conn.send({ from: envelope.from, to: envelope.to }, raw, (err, i) => (err ? reject(err) : resolve(i))));
      const rejected = new Map(((info.rejectedErrors ?? []) as NodemailerError[]).filter((e) => e.recipient).map((e) => [e.recipient!, e]));
      const results = envelope.to.map((recipient): RecipientResult => {
        const r = rejected.get(recipient);
        return r ? { recipient, verdict: verdictOf(r.responseCode), reply: oneLine(r.response) } : { recipient, verdict: 'delivered', reply: oneLine(info.response) };
      });
      this.release(key, pooled, true);
      return { kind: 'answered', results, tls: conn.secure };
    } catch (err) {
      const e = err as NodemailerError;
      // nodemailer keeps the RCPT rejections of a transaction that failed at DATA on its envelope.
      const envelopeRejected = ((conn as unknown as { _envelope?: { rejectedErrors?: NodemailerError[] } })._envelope?.rejectedErrors ?? []);
      const result = classifyFailure(e, envelope.to, envelopeRejected);
      // A session that answered (e.g. every recipient refused) can be reused after RSET.
      if (result.kind === 'answered' && e.code === 'EENVELOPE' && pooled.alive) {
        const reset = await new Promise<boolean>((resolve) => conn.reset((resetErr) => resolve(!resetErr)));
        this.release(key, pooled, reset);
      } else {
        this.release(key, pooled, false);
      }
      if (result.kind === 'answered') result.tls = conn.secure;
      return result;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const list of this.idle.values()) list.length = 0;
    for (const pooled of [...this.open]) this.quit(pooled);
  }
}
