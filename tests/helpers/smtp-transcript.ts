import net from 'node:net';
import tls from 'node:tls';

/**
 * A tiny raw-socket SMTP client for protocol transcript tests: every reply is read off the
 * socket exactly as the server wrote it, so tests can assert codes, enhanced status codes and
 * texts. Waiting is always on socket data (or close); there are no sleeps.
 */

export interface SmtpReply {
  code: number;
  /** The text of each line, without the `250-` / `250 ` prefix. */
  lines: string[];
  /** The lines joined with "\n". */
  text: string;
  /** The RFC 3463 enhanced status code at the start of the first line, if any (`5.7.1`). */
  enhanced: string | null;
}

const REPLY_LINE = /^(\d{3})([ -])(.*)$|^(\d{3})$/;
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?: |$)/;
const CRLF = Buffer.from('\r\n');

/** RFC 5321 4.5.2: a line that starts with "." gets one more "." in front. */
export function dotStuff(body: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    if (body[i] === 0x2e && (i === 0 || body[i - 1] === 0x0a)) out.push(0x2e);
    out.push(body[i]!);
  }
  return Buffer.from(out);
}

/** The receiving side of dotStuff: removes the leading "." of lines that start with one. */
export function dotUnstuff(body: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    if (body[i] === 0x2e && (i === 0 || body[i - 1] === 0x0a)) {
      i++;
      if (i >= body.length) break;
    }
    out.push(body[i]!);
  }
  return Buffer.from(out);
}

interface Waiter {
  resolve(reply: SmtpReply): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class SmtpTranscript {
  /** The reply the server greeted with (220, or 421 when it refuses the connection). */
  greeting!: SmtpReply;
  /** Resolves when the socket is closed (by either side). */
  readonly closed: Promise<void>;

  private socket: net.Socket | tls.TLSSocket;
  private buffer = Buffer.alloc(0);
  private pendingLines: string[] = [];
  private readonly replies: SmtpReply[] = [];
  private readonly waiters: Waiter[] = [];
  private failure: Error | null = null;
  private isClosed = false;
  private markClosed!: () => void;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private readonly onError = (err: Error) => this.fail(err);
  private readonly onClose = () => this.handleClose();

  private constructor(
    socket: net.Socket,
    private readonly replyTimeoutMs: number,
  ) {
    this.socket = socket;
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.attach(socket);
  }

  /** Connects and reads the greeting. */
  static async connect(host: string, port: number, options: { replyTimeoutMs?: number } = {}): Promise<SmtpTranscript> {
    const socket = net.connect({ host, port });
    const client = new SmtpTranscript(socket, options.replyTimeoutMs ?? 15_000);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve();
      });
      socket.once('error', reject);
    });
    client.greeting = await client.reply();
    return client;
  }

  /** True once the server (or we) closed the connection. */
  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Whether the connection is now TLS. */
  get secure(): boolean {
    return this.socket instanceof tls.TLSSocket;
  }

  /** Sends one command line and resolves with the server's (possibly multi-line) reply. */
  async cmd(line: string): Promise<SmtpReply> {
    this.send(line);
    return this.reply();
  }

  /** Writes one command line without waiting (for pipelining); read the replies with reply(). */
  send(line: string): void {
    if (/[\r\n]/.test(line)) throw new Error(`a command line cannot contain CR or LF: ${JSON.stringify(line)}`);
    this.write(Buffer.concat([Buffer.from(line, 'utf8'), CRLF]));
  }

  /** Writes bytes exactly as given (no dot-stuffing, CR and LF allowed): for smuggling and junk tests. */
  sendRaw(bytes: Buffer): void {
    this.write(bytes);
  }

  /**
   * Sends a message body after a 354: dot-stuffed, then the terminating "<CRLF>.<CRLF>" (the
   * body's own final CRLF, when it has one, is the first half of it). Resolves with the reply
   * to the end of DATA. The server stores `raw` (plus a CRLF when raw does not end with one).
   */
  async data(raw: Buffer): Promise<SmtpReply> {
    const endsWithCrlf = raw.length >= 2 && raw[raw.length - 2] === 0x0d && raw[raw.length - 1] === 0x0a;
    this.write(Buffer.concat([dotStuff(raw), endsWithCrlf ? Buffer.alloc(0) : CRLF, Buffer.from('.\r\n')]));
    return this.reply();
  }

  /**
   * A whole transaction that must be accepted: MAIL (250 2.1.0), each RCPT (250 2.1.5), DATA
   * (354), then the body. Throws naming the step the server refused; resolves with the reply to
   * the end of DATA (which the test checks).
   */
  async sendMail(from: string, rcpts: string[], raw: Buffer): Promise<SmtpReply> {
    const expectReply = (step: string, reply: SmtpReply, code: number, enhanced?: string) => {
      if (reply.code !== code || (enhanced !== undefined && reply.enhanced !== enhanced)) {
        throw new Error(`${step}: expected ${code}${enhanced ? ` ${enhanced}` : ''}, got ${reply.code} ${reply.text}`);
      }
    };
    expectReply(`MAIL FROM:<${from}>`, await this.cmd(`MAIL FROM:<${from}>`), 250, '2.1.0');
    for (const rcpt of rcpts) expectReply(`RCPT TO:<${rcpt}>`, await this.cmd(`RCPT TO:<${rcpt}>`), 250, '2.1.5');
    expectReply('DATA', await this.cmd('DATA'), 354);
    return this.data(raw);
  }

  /** STARTTLS: expects 220, then upgrades the socket (self-signed certificates accepted). */
  async startTls(): Promise<SmtpReply> {
    const ready = await this.cmd('STARTTLS');
    if (ready.code !== 220) throw new Error(`STARTTLS refused: ${ready.code} ${ready.text}`);
    if (this.buffer.length > 0 || this.replies.length > 0) throw new Error('the server sent data after its STARTTLS reply (plaintext injection)');
    const plain = this.socket as net.Socket;
    this.detach(plain);
    const secure = tls.connect({ socket: plain, rejectUnauthorized: false });
    this.socket = secure;
    this.attach(secure);
    await new Promise<void>((resolve, reject) => {
      const onFail = (err?: Error) => reject(err ?? new Error('connection closed during the TLS handshake'));
      secure.once('secureConnect', () => {
        secure.off('error', onFail);
        secure.off('close', onFail);
        resolve();
      });
      secure.once('error', onFail);
      secure.once('close', onFail);
    });
    return ready;
  }

  /** Resolves with the next complete reply from the server. */
  reply(): Promise<SmtpReply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new Error(`no SMTP reply within ${this.replyTimeoutMs} ms`));
        }, this.replyTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Closes the connection (without QUIT) and resolves when the socket is gone. */
  async close(): Promise<void> {
    if (!this.isClosed) {
      const socket = this.socket;
      socket.end(() => socket.destroy());
    }
    await this.closed;
  }

  private write(bytes: Buffer): void {
    if (this.isClosed) throw new Error('the SMTP connection is closed');
    this.socket.write(bytes);
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private detach(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    let end: number;
    while ((end = this.buffer.indexOf(CRLF)) !== -1) {
      const line = this.buffer.subarray(0, end).toString('utf8');
      this.buffer = this.buffer.subarray(end + 2);
      const match = REPLY_LINE.exec(line);
      if (!match) return this.fail(new Error(`not an SMTP reply line: ${JSON.stringify(line)}`));
      const code = match[1] ?? match[4]!;
      const text = match[3] ?? '';
      if (this.pendingLines.length > 0 && !this.pendingLines[0]!.startsWith(code)) {
        return this.fail(new Error(`reply code changed inside a multi-line reply: ${JSON.stringify(line)}`));
      }
      this.pendingLines.push(`${code}${text}`);
      if (match[2] === '-') continue;
      const lines = this.pendingLines.map((l) => l.slice(3));
      this.pendingLines = [];
      const enhanced = ENHANCED.exec(lines[0]!)?.[1] ?? null;
      this.deliver({ code: Number(code), lines, text: lines.join('\n'), enhanced });
    }
  }

  private deliver(reply: SmtpReply): void {
    const waiter = this.waiters.shift();
    if (!waiter) {
      this.replies.push(reply);
      return;
    }
    clearTimeout(waiter.timer);
    waiter.resolve(reply);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.failure);
    }
    if (!this.socket.destroyed) this.socket.destroy();
  }

  private handleClose(): void {
    this.isClosed = true;
    this.fail(new Error('the server closed the connection'));
    this.markClosed();
  }
}

/** Connects to an SMTP server and reads its greeting. */
export function connect(host: string, port: number, options?: { replyTimeoutMs?: number }): Promise<SmtpTranscript> {
  return SmtpTranscript.connect(host, port, options);
}
