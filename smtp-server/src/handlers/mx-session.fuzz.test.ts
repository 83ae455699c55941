import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@mailyard/core';
import { fuzzParams, fuzzTimeout } from '../../../tests/helpers/fuzz.js';
import { fakeRecipients, fakeSpool, fakeTrust, tempTlsMaterial } from '../../../tests/helpers/smtp-fakes.js';
import { connect, type SmtpReply, type SmtpTranscript } from '../../../tests/helpers/smtp-transcript.js';
import { buildMxListener, type MxListener } from '../app.js';

/**
 * Fuzzing the MX listener over real sockets (the library's command parser, our handlers and the
 * DATA stream, on in-memory fakes of core's services): random and hostile command lines, NULs,
 * huge lines, bare CR/LF, pipelined junk and unstuffed DATA bodies. The server must never crash or
 * hang, must answer every command line with a well-formed reply, and must end DATA only at
 * <CRLF>.<CRLF>. `npm run fuzz` runs the same properties many more times.
 */

const HOST = '127.0.0.1';
const REPLY_TIMEOUT_MS = 10_000;

let tls: Awaited<ReturnType<typeof tempTlsMaterial>>;
let listener: MxListener;
let port: number;
const spool = fakeSpool();

beforeAll(async () => {
  tls = await tempTlsMaterial('mx.a.test');
  listener = buildMxListener(
    { services: { recipients: fakeRecipients({ 'alice@a.test': 1, 'bob@a.test': 2 }), spool, trust: fakeTrust() }, log: silentLogger() },
    {
      hostname: 'mx.a.test',
      tls,
      limits: { maxMessageSize: 64 * 1024, maxRecipients: 5, maxMessagesPerConnection: 1_000_000, maxConnectionsPerIp: 1_000, maxMessagesPerIpPerMinute: 1_000_000, maxClients: 1_000, maxDataPerIp: 1_000 },
    },
  );
  port = await listener.listen(0, HOST);
});
afterAll(async () => {
  await listener?.close();
  tls?.remove();
});

/** A well-formed SMTP reply: a code the protocol defines (2xx to 5xx). */
function expectWellFormed(reply: SmtpReply, what: string) {
  expect(reply.code, what).toBeGreaterThanOrEqual(200);
  expect(reply.code, what).toBeLessThan(600);
}

/** A fresh client that has said EHLO. */
async function client(): Promise<SmtpTranscript> {
  const c = await connect(HOST, port, { replyTimeoutMs: REPLY_TIMEOUT_MS });
  expect(c.greeting.code).toBe(220);
  expect((await c.cmd('EHLO fuzz.b.test')).code).toBe(250);
  return c;
}

/** After the fuzzing: the listener still takes a normal message on a new connection. */
async function expectStillServing() {
  const c = await client();
  try {
    const before = spool.written.length;
    const reply = await c.sendMail('s@b.test', ['alice@a.test'], Buffer.from('From: s@b.test\r\nSubject: still here\r\n\r\nhello\r\n'));
    expect(reply.code).toBe(250);
    expect(spool.written.length).toBe(before + 1);
  } finally {
    await c.close();
  }
}

/**
 * Writes `bytes` on a raw connection and reads until the server closes it; rejects when that
 * takes longer than the deadline (a hang). Resolves with every reply line.
 */
function rawExchange(bytes: Buffer, deadlineMs = REPLY_TIMEOUT_MS): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server neither answered QUIT nor closed within ${deadlineMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(-500))}`));
    }, deadlineMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A reset after our junk (the server closing on an error) still ends the exchange.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      resolve(text.split('\r\n').slice(0, -1));
    });
  });
}

const VERBS = ['EHLO', 'HELO', 'MAIL FROM:', 'RCPT TO:', 'DATA', 'RSET', 'NOOP', 'VRFY', 'EXPN', 'HELP', 'QUIT', 'AUTH PLAIN', 'BDAT', 'TURN', 'mail from:', 'rcpt to:', 'XCLIENT', 'XFORWARD', 'LHLO'];
const ADDRESSES = ['<s@b.test>', '<alice@a.test>', '<>', '<@a,@b:alice@a.test>', '<alice%b.test@a.test>', '<"a b"@a.test>', '<alice@a.test.>', '<x@[127.0.0.1]>', 'alice@a.test', '<alice@a.test> SIZE=999999999', '<a@b.test> BODY=8BITMIME SMTPUTF8', '<ü@ä.test>'];

/** Text with the characters parsers trip on: NUL, controls, non-ASCII, angle brackets, quotes. */
const nasty = fc.string({ unit: fc.oneof(fc.constantFrom('\0', '\x7f', '\t', ' ', '<', '>', ':', '"', '\\', '@', '%', '.', 'é', '\u2028', '\ud83d\ude00'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 60 });
const noNewlines = (s: string) => s.replace(/[\r\n]/g, ' ');

/** One command line without CR or LF. */
const commandLine = fc.oneof(
  fc.tuple(fc.constantFrom(...VERBS), fc.constantFrom('', ' '), fc.oneof(fc.constantFrom(...ADDRESSES), nasty)).map(([verb, sep, arg]) => noNewlines(`${verb}${sep}${arg}`)),
  nasty.map(noNewlines),
  fc.string({ unit: 'binary', maxLength: 300 }).map(noNewlines),
  fc.tuple(fc.constantFrom('MAIL FROM:<', 'RCPT TO:<', 'EHLO ', 'X'), fc.integer({ min: 500, max: 20_000 })).map(([start, n]) => `${start}${'a'.repeat(n)}`),
);

/** A body: bytes mixing text with the ones that matter at line starts (dots, bare CR and LF, NUL). */
const bodyBytes = fc
  .array(fc.oneof(fc.constantFrom('\r\n', '\n', '\r', '.', '..', '\r\n.\n', '\n.\n', '\n.\r\n', '\r.\r', '\0', 'MAIL FROM:<x@evil.test>', 'From: x@b.test', ' '), fc.string({ maxLength: 20 })), { maxLength: 60 })
  .map((parts) => Buffer.from(parts.join(''), 'utf8'));

describe('MX listener under fuzzed input', () => {
  it(
    'answers every command line (NULs, huge lines, junk, real verbs) with a well-formed reply, and keeps serving',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(commandLine, { minLength: 1, maxLength: 25 }), async (lines) => {
          let c = await client();
          try {
            for (const line of lines) {
              if (!c.isOpen) c = await client();
              c.send(line);
              let reply: SmtpReply;
              try {
                reply = await c.reply();
              } catch (err) {
                // Closing is allowed only after a reply said so: a silent close is a failure.
                throw new Error(`no reply to ${JSON.stringify(line.slice(0, 80))}: ${(err as Error).message}`);
              }
              expectWellFormed(reply, line.slice(0, 80));
              if (reply.code === 354) expectWellFormed(await c.data(Buffer.from('Subject: fuzz\r\n\r\nbody\r\n')), 'end of DATA');
              // After 221 (QUIT) or 421 the server closes; after STARTTLS's 220 it expects a TLS handshake.
              if (reply.code === 221 || reply.code === 421 || reply.code === 220) {
                await c.close();
              }
            }
          } finally {
            await c.close();
          }
        }),
        fuzzParams(40),
      );
      await expectStillServing();
    },
    fuzzTimeout(60_000),
  );

  it(
    'survives pipelined junk with bare CR, bare LF and NULs: every reply is well-formed and QUIT still ends the session',
    async () => {
      const token = fc.oneof(fc.constantFrom(...VERBS), fc.constantFrom(...ADDRESSES), nasty, fc.constantFrom('\r\n', '\n', '\r', '\0', ' ', '.'));
      await fc.assert(
        fc.asyncProperty(fc.array(token, { maxLength: 80 }), async (tokens) => {
          const junk = tokens.join('').replace(/STARTTLS/gi, 'X');
          // Whatever state the junk left (commands, or inside DATA), this ends DATA and then the session.
          const lines = await rawExchange(Buffer.from(`EHLO fuzz.b.test\r\n${junk}\r\n.\r\nQUIT\r\n`, 'utf8'));
          expect(lines[0]).toMatch(/^220 /);
          for (const line of lines) expect(line, JSON.stringify(lines)).toMatch(/^[2-5]\d\d([ -].*)?$/s);
          const last = lines.at(-1)!;
          // Ended by our QUIT, or earlier by the server with a reply that says why (too many bad commands, a too-long line).
          expect(last, JSON.stringify(lines.slice(-5))).toMatch(/^(221|421|500|501|554) /);
        }),
        fuzzParams(40),
      );
      await expectStillServing();
    },
    fuzzTimeout(60_000),
  );

  it(
    'ends DATA only at <CRLF>.<CRLF>: an unstuffed body with bare-LF dots, NULs and commands is one message, with one reply',
    async () => {
      await fc.assert(
        fc.asyncProperty(bodyBytes, async (body) => {
          // Only the final <CRLF>.<CRLF> may end the message: keep the body from making one, also with the CRLF
          // that ends the DATA command before it and the one appended after it (a body of "." alone would).
          fc.pre(!Buffer.concat([Buffer.from('\r\n'), body, Buffer.from('\r\n')]).includes('\r\n.\r\n'));
          const c = await client();
          try {
            const before = spool.written.length;
            expect((await c.cmd('MAIL FROM:<s@b.test>')).code).toBe(250);
            expect((await c.cmd('RCPT TO:<alice@a.test>')).code).toBe(250);
            expect((await c.cmd('DATA')).code).toBe(354);
            // Sent as an attacker would: not dot-stuffed, so "\n.\n" and friends reach the server as they are.
            c.sendRaw(Buffer.concat([body, Buffer.from('\r\n.\r\nNOOP\r\n')]));
            const end = await c.reply();
            expectWellFormed(end, 'end of DATA');
            expect(spool.written.length).toBe(before + (end.code === 250 ? 1 : 0));
            // The next reply is the NOOP's: nothing in the body ran as a command.
            expect((await c.reply()).code).toBe(250);
            expect(spool.written.length).toBe(before + (end.code === 250 ? 1 : 0));
          } finally {
            await c.close();
          }
        }),
        fuzzParams(60),
      );
      await expectStillServing();
    },
    fuzzTimeout(60_000),
  );

  it(
    'stores a dot-stuffed body exactly as sent, whatever its dots, bare CR/LF and NULs',
    async () => {
      await fc.assert(
        fc.asyncProperty(bodyBytes, async (body) => {
          // Known gap of the smtp-server library (3.21): a body whose very first byte is a bare LF
          // followed by a dot keeps its escape dot (its unstuffing starts at the third byte). Bare LF
          // is not valid SMTP; the message is still one message (see the property above).
          fc.pre(!(body[0] === 0x0a && body[1] === 0x2e));
          const c = await client();
          try {
            const before = spool.written.length;
            const reply = await c.sendMail('s@b.test', ['alice@a.test'], body);
            expect(reply.code).toBe(250);
            expect(spool.written.length).toBe(before + 1);
            const endsWithCrlf = body.length >= 2 && body.subarray(-2).equals(Buffer.from('\r\n'));
            expect(spool.written.at(-1)!.raw.equals(endsWithCrlf ? body : Buffer.concat([body, Buffer.from('\r\n')]))).toBe(true);
          } finally {
            await c.close();
          }
        }),
        fuzzParams(60),
      );
    },
    fuzzTimeout(60_000),
  );
});
