import net from 'node:net';
import nodemailer from 'nodemailer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createAccountsService,
  createAppPasswordRepository,
  createDb,
  createOutboundQueue,
  createRateLimiter,
  createRedis,
  createRedisEventPublisher,
  generateAppPassword,
  hashPassword,
  outboundJobId,
  SENT_MESSAGES_PER_USER,
  silentLogger,
  type Db,
  type OutboundQueue,
  type RateLimitRule,
  type SignInFailureRules,
  type TlsMaterial,
} from '@mailyard/core';
import { runCommand } from '../../tests/helpers/services.js';
import { connect, type SmtpTranscript } from '../../tests/helpers/smtp-transcript.js';
import { closedPort, createSmtpTestEnv, type SmtpTestEnv } from '../../tests/helpers/smtp-test-env.js';
import type { TestStore } from '../../tests/helpers/store.js';
import { buildSubmissionApp, type SubmissionApp, type SubmissionAppDeps } from './app.js';
import type { SubmissionLimits } from './handlers/submission-session.handlers.js';
import { testSecrets } from '../../tests/helpers/secrets.js';

/**
 * SMTP submission (587 with STARTTLS, 465 with implicit TLS) against a real PostgreSQL and a real
 * Redis, driven by real clients (swaks, nodemailer) and by raw transcripts where the exact
 * reply matters. Every assertion names the reply code and the enhanced status code.
 */

const HOST = '127.0.0.1';
const SIZE_LIMIT = 50_000;
const DEFAULT_LIMITS: SubmissionLimits = { maxMessageSize: SIZE_LIMIT, maxRecipients: 100, maxConnectionsPerIp: 100 };
const ALICE = { address: 'alice@a.test', password: 'alice account password' };
const BOB = { address: 'bob@a.test', password: 'bob account password' };

let store: TestStore;
let redisConnection: ReturnType<typeof createRedis>;
let outbound: OutboundQueue;
let tlsMaterial: TlsMaterial;
let aliceAppPassword: string;
let aliceId: number;
let bobId: number;
let main: { submission: number; smtps: number };

const apps: SubmissionApp[] = [];
let env: SmtpTestEnv;
let clients: SmtpTranscript[];
let extraDbs: Db[];
const extraRedis: Array<ReturnType<typeof createRedis>> = [];
let ruleCounter = 0;

/** Failed-AUTH rules under names of their own, so that tests never share counters. */
function rules(perIp: number, perAccount: number): SignInFailureRules {
  ruleCounter += 1;
  const rule = (kind: string, max: number): RateLimitRule => ({ name: `test-${kind}-${ruleCounter}`, max, windowSeconds: 600 });
  return { perIp: rule('ip', perIp), perAccount: rule('account', perAccount) };
}

async function startApp(overrides: { db?: Db; limiter?: SubmissionAppDeps['limiter']; authRules?: SignInFailureRules; limits?: Partial<SubmissionLimits> } = {}) {
  const app = buildSubmissionApp(
    {
      db: overrides.db ?? store.db,
      events: createRedisEventPublisher(redisConnection),
      limiter: overrides.limiter ?? createRateLimiter(redisConnection),
      outbound,
      dataDir: env.dir,
      log: silentLogger(),
    },
    { hostname: 'mail.a.test', tls: tlsMaterial, limits: { ...DEFAULT_LIMITS, ...overrides.limits }, authRules: overrides.authRules ?? rules(1_000, 1_000) },
  );
  apps.push(app);
  return app.listen({ submission: 0, smtps: 0 }, HOST);
}

async function open(port: number): Promise<SmtpTranscript> {
  const client = await connect(HOST, port);
  clients.push(client);
  expect(client.greeting.code).toBe(220);
  return client;
}

/** A 587 session after EHLO, STARTTLS and EHLO again. */
async function tlsSession(port = main.submission): Promise<SmtpTranscript> {
  const client = await open(port);
  expect((await client.cmd('EHLO client.a.test')).code).toBe(250);
  expect((await client.startTls()).code).toBe(220);
  expect((await client.cmd('EHLO client.a.test')).code).toBe(250);
  return client;
}

function plain(user: string, password: string, authzid = ''): string {
  return Buffer.from(`${authzid}\0${user}\0${password}`).toString('base64');
}

/** A 587 session over TLS, authenticated with AUTH PLAIN (235 2.7.0 expected). */
async function authedSession(user = ALICE.address, password = ALICE.password, port = main.submission): Promise<SmtpTranscript> {
  const client = await tlsSession(port);
  expect(await client.cmd(`AUTH PLAIN ${plain(user, password)}`)).toMatchObject({ code: 235, enhanced: '2.7.0' });
  return client;
}


function message(headers: Record<string, string>, body = 'hello'): Buffer {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return Buffer.from([...lines, '', body, ''].join('\r\n'));
}

/** The outbound id from `250 2.0.0 Ok: queued as <id>`. */
function queuedId(text: string): number {
  const match = /queued as (\d+)/.exec(text);
  if (!match) throw new Error(`no queue id in ${JSON.stringify(text)}`);
  return Number(match[1]);
}

interface SwaksResult {
  code: number | null;
  out: string;
  /** The server's reply lines (`250 2.0.0 ...`), in order, whether over TLS or not. */
  replies: string[];
}

/** Runs swaks against the test server; `--data -` reads the message from `input`. */
async function swaks(args: string[], input?: string): Promise<SwaksResult> {
  const result = await runCommand('swaks', ['--ehlo', 'client.a.test', '--timeout', '20', ...args], { input, timeoutMs: 30_000 });
  const out = `${result.stdout}${result.stderr}`;
  const replies = out
    .split('\n')
    .map((line) => /^\s*<[~*-]*\s+(\d{3}[ -].*)$/.exec(line)?.[1])
    .filter((line): line is string => line !== undefined);
  return { code: result.code, out, replies };
}

function swaksServer(port: number, tls: 'starttls' | 'implicit' | 'none' = 'starttls'): string[] {
  return ['--server', `${HOST}:${port}`, ...(tls === 'starttls' ? ['--tls'] : tls === 'implicit' ? ['--tlsc'] : [])];
}

function swaksAuth(user: string, password: string, method: 'PLAIN' | 'LOGIN' = 'PLAIN'): string[] {
  return ['--auth', method, '--auth-user', user, '--auth-password', password];
}

/** The last reply swaks got that starts with `code`. */
function lastReply(result: SwaksResult, code: number): string | undefined {
  return result.replies.filter((r) => r.startsWith(String(code))).at(-1);
}

async function auditRows(action: string, address: string) {
  return store.db.selectFrom('audit_log').select(['action', 'actor_address', 'actor_user_id', 'ip', 'details']).where('action', '=', action).where('actor_address', '=', address).execute();
}

/** The user's messages with this subject: mailbox special use, flags and stored bytes. */
async function filed(userId: number, subject: string) {
  return store.db
    .selectFrom('messages')
    .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
    .innerJoin('blobs', 'blobs.hash', 'messages.blob_hash')
    .select(['mailboxes.special_use', 'messages.flags', 'messages.message_id_header', 'blobs.data'])
    .where('messages.user_id', '=', userId)
    .where('messages.subject', '=', subject)
    .orderBy('messages.id')
    .execute();
}

function headerBlock(raw: Buffer): string {
  const text = raw.toString('utf8');
  return text.slice(0, text.indexOf('\r\n\r\n'));
}


beforeAll(async () => {
  env = await createSmtpTestEnv('mail.a.test');
  ({ store, redis: redisConnection, tls: tlsMaterial, clients, extraDbs } = env);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('a.test');
  aliceId = (await accounts.addUser(ALICE)).id;
  bobId = (await accounts.addUser(BOB)).id;
  await accounts.addUser({ address: 'busy@a.test', password: 'busy password' });
  await accounts.addAlias('sales@a.test', ALICE.address, { allowSend: true });
  await accounts.addAlias('support@a.test', ALICE.address);
  aliceAppPassword = generateAppPassword();
  await createAppPasswordRepository(store.db).insert(aliceId, 'Thunderbird', await hashPassword(aliceAppPassword));

  outbound = createOutboundQueue(redisConnection);
  main = await startApp();
});

afterEach(async () => {
  await env.closeClients();
});

afterAll(async () => {
  await env?.closeClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
  for (const r of extraRedis) r.disconnect();
  await outbound?.close();
  await env?.close();
});

describe('greeting, EHLO and TLS', () => {
  it('on 587 advertises STARTTLS and AUTH PLAIN LOGIN, and after STARTTLS no STARTTLS', async () => {
    const client = await open(main.submission);
    expect(client.greeting).toMatchObject({ code: 220, text: 'mail.a.test ESMTP Mailyard' });
    const before = (await client.cmd('EHLO client.a.test')).lines.slice(1).map((l) => l.toUpperCase());
    expect(before).toContain('STARTTLS');
    expect(before).toContain('AUTH PLAIN LOGIN');
    expect(before).toContain(`SIZE ${SIZE_LIMIT}`);
    await client.startTls();
    const after = (await client.cmd('EHLO client.a.test')).lines.slice(1).map((l) => l.toUpperCase());
    expect(after).not.toContain('STARTTLS');
    expect(after).toContain('AUTH PLAIN LOGIN');
  });

  it('on 465 speaks TLS from the first byte (swaks --tlsc) and refuses a plain-text client', async () => {
    const result = await swaks([...swaksServer(main.smtps, 'implicit'), '--quit-after', 'EHLO']);
    expect(result.code, result.out).toBe(0);
    expect(result.replies[0]).toMatch(/^220 mail\.a\.test ESMTP/);
    expect(result.out).toMatch(/TLS started/i);
    // A client that does not start TLS never gets a greeting.
    const plainText = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(main.smtps, HOST, () => socket.write('EHLO plain.client\r\n'));
      let data = '';
      socket.setTimeout(5_000, () => socket.destroy());
      socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(plainText).not.toMatch(/^220 /m);
  });
});

describe('authentication required', () => {
  it('refuses MAIL without AUTH with 530 5.7.0, before and after STARTTLS', async () => {
    const client = await open(main.submission);
    await client.cmd('EHLO client.a.test');
    expect(await client.cmd(`MAIL FROM:<${ALICE.address}>`)).toMatchObject({ code: 530, enhanced: '5.7.0' });
    await client.startTls();
    await client.cmd('EHLO client.a.test');
    const reply = await client.cmd(`MAIL FROM:<${ALICE.address}>`);
    expect(reply).toMatchObject({ code: 530, enhanced: '5.7.0' });
    expect(reply.text).toBe('5.7.0 Authentication required');
  });

  it('swaks without AUTH is refused (530 5.7.0) on 587 and 465', async () => {
    for (const tls of ['starttls', 'implicit'] as const) {
      const result = await swaks([...swaksServer(tls === 'starttls' ? main.submission : main.smtps, tls), '--from', ALICE.address, '--to', BOB.address]);
      expect(result.code, result.out).not.toBe(0);
      expect(lastReply(result, 530), result.out).toMatch(/^530 5\.7\.0 Authentication required/);
      expect(result.replies.some((r) => r.startsWith('354'))).toBe(false);
    }
  });

  it('refuses AUTH on 587 before STARTTLS with 538 5.7.11 without looking at the credentials, and accepts it after', async () => {
    const client = await open(main.submission);
    await client.cmd('EHLO client.a.test');
    expect(await client.cmd(`AUTH PLAIN ${plain(ALICE.address, 'a wrong password')}`)).toMatchObject({ code: 538, enhanced: '5.7.11' });
    expect(await client.cmd('AUTH LOGIN')).toMatchObject({ code: 538, enhanced: '5.7.11' });
    // Not counted as a failure: nothing was checked.
    expect(await auditRows('auth.smtp_login_failed', ALICE.address)).toEqual([]);
    await client.startTls();
    await client.cmd('EHLO client.a.test');
    expect(await client.cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password)}`)).toMatchObject({ code: 235, enhanced: '2.7.0' });
  });

  it('offers no other mechanism (504 for CRAM-MD5)', async () => {
    const client = await tlsSession();
    expect((await client.cmd('AUTH CRAM-MD5')).code).toBe(504);
  });
});

describe('credentials', () => {
  it('answers a wrong password with 535 5.7.8 (swaks, PLAIN and LOGIN) and records each failure in the audit log', async () => {
    for (const method of ['PLAIN', 'LOGIN'] as const) {
      const result = await swaks([...swaksServer(main.submission), ...swaksAuth(BOB.address, 'not the password', method), '--from', BOB.address, '--to', ALICE.address]);
      expect(result.code, result.out).not.toBe(0);
      expect(lastReply(result, 535), result.out).toBe('535 5.7.8 Authentication credentials invalid');
    }
    // An unknown account gets the same answer.
    const client = await tlsSession();
    expect(await client.cmd(`AUTH PLAIN ${plain('nobody@a.test', 'whatever')}`)).toMatchObject({ code: 535, enhanced: '5.7.8' });
    const rows = await auditRows('auth.smtp_login_failed', BOB.address);
    expect(rows.map((r) => (r.details as { method: string }).method).sort()).toEqual(['LOGIN', 'PLAIN']);
    expect(rows[0]).toMatchObject({ actor_user_id: null, ip: HOST });
  });

  it('accepts the account password over STARTTLS on 587 (swaks AUTH LOGIN) and delivers', async () => {
    const result = await swaks([...swaksServer(main.submission), ...swaksAuth(ALICE.address, ALICE.password, 'LOGIN'), '--from', ALICE.address, '--to', BOB.address, '--header', 'Subject: swaks 587 account password']);
    expect(result.code, result.out).toBe(0);
    expect(lastReply(result, 235)).toMatch(/^235 2\.7\.0/);
    expect(lastReply(result, 250)).toMatch(/^250 2\.0\.0 Ok: queued as \d+$/);
    expect((await filed(bobId, 'swaks 587 account password')).map((m) => m.special_use)).toEqual(['\\Inbox']);
    const audit = await auditRows('auth.smtp_login', ALICE.address);
    expect(audit.some((r) => r.actor_user_id === aliceId && (r.details as { method: string }).method === 'LOGIN')).toBe(true);
  });

  it('accepts an app password over implicit TLS on 465 (swaks --tlsc AUTH PLAIN) and records its use', async () => {
    const result = await swaks([...swaksServer(main.smtps, 'implicit'), ...swaksAuth(ALICE.address, aliceAppPassword, 'PLAIN'), '--from', ALICE.address, '--to', BOB.address, '--header', 'Subject: swaks 465 app password']);
    expect(result.code, result.out).toBe(0);
    expect(lastReply(result, 250)).toMatch(/^250 2\.0\.0 Ok: queued as \d+$/);
    expect((await filed(bobId, 'swaks 465 app password')).map((m) => m.special_use)).toEqual(['\\Inbox']);
    const row = await store.db.selectFrom('app_passwords').select('last_used_at').where('user_id', '=', aliceId).executeTakeFirstOrThrow();
    expect(row.last_used_at).toBeInstanceOf(Date);
  });

  it('accepts the app password on 587 and the account password on 465 from nodemailer', async () => {
    const cases = [
      { port: main.submission, secure: false, pass: aliceAppPassword, subject: 'nodemailer 587 app password' },
      { port: main.smtps, secure: true, pass: ALICE.password, subject: 'nodemailer 465 account password' },
    ];
    for (const c of cases) {
      const transport = nodemailer.createTransport({ host: HOST, port: c.port, secure: c.secure, requireTLS: !c.secure, tls: { rejectUnauthorized: false }, auth: { user: ALICE.address, pass: c.pass } });
      try {
        const info = await transport.sendMail({ from: ALICE.address, to: BOB.address, subject: c.subject, text: 'from nodemailer' });
        expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as \d+$/);
      } finally {
        transport.close();
      }
      expect((await filed(bobId, c.subject)).map((m) => m.special_use)).toEqual(['\\Inbox']);
    }
  });

  it('nodemailer with a wrong password gets 535 and nothing is sent', async () => {
    const transport = nodemailer.createTransport({ host: HOST, port: main.smtps, secure: true, tls: { rejectUnauthorized: false }, auth: { user: ALICE.address, pass: 'wrong' } });
    try {
      await expect(transport.sendMail({ from: ALICE.address, to: BOB.address, subject: 'nodemailer wrong password', text: 'x' })).rejects.toMatchObject({ responseCode: 535 });
    } finally {
      transport.close();
    }
    expect(await filed(bobId, 'nodemailer wrong password')).toEqual([]);
  });

  it('refuses PLAIN with an authorization identity other than the user (535 5.7.8)', async () => {
    const client = await tlsSession();
    expect(await client.cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password, BOB.address)}`)).toMatchObject({ code: 535, enhanced: '5.7.8' });
    expect(await client.cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password, ALICE.address)}`)).toMatchObject({ code: 235, enhanced: '2.7.0' });
  });

  it('does not authenticate a disabled account (535 5.7.8)', async () => {
    const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
    const user = await accounts.addUser({ address: 'gone@a.test', password: 'gone password' });
    await store.db.updateTable('users').set({ disabled: true }).where('id', '=', user.id).execute();
    const client = await tlsSession();
    expect(await client.cmd(`AUTH PLAIN ${plain('gone@a.test', 'gone password')}`)).toMatchObject({ code: 535, enhanced: '5.7.8' });
  });
});

describe('brute-force limits', () => {
  it('per IP: after N failures from one address, AUTH is refused with 454 4.7.0 without checking the password; other addresses are not affected', async () => {
    const ports = await startApp({ authRules: rules(3, 1_000) });
    const from = (ip: string) => [...swaksServer(ports.submission), '--local-interface', ip, '--quit-after', 'AUTH'];
    // Three different accounts: only the per-IP count can reach its limit.
    for (const user of ['alice@a.test', 'bob@a.test', 'nobody@a.test']) {
      const result = await swaks([...from('127.0.0.2'), ...swaksAuth(user, 'guess')]);
      expect(lastReply(result, 535), result.out).toBe('535 5.7.8 Authentication credentials invalid');
    }
    const limited = await swaks([...from('127.0.0.2'), ...swaksAuth(ALICE.address, ALICE.password)]);
    expect(lastReply(limited, 454), limited.out).toBe('454 4.7.0 Too many authentication failures, try again later');
    expect(limited.replies.some((r) => r.startsWith('235'))).toBe(false);
    const other = await swaks([...from('127.0.0.1'), ...swaksAuth(ALICE.address, ALICE.password)]);
    expect(lastReply(other, 235), other.out).toMatch(/^235 2\.7\.0/);
  });

  it('per account: after N failures for one account, from any address, that account is refused with 454 4.7.0; other accounts are not', async () => {
    const ports = await startApp({ authRules: rules(1_000, 2) });
    const from = (ip: string) => [...swaksServer(ports.submission), '--local-interface', ip, '--quit-after', 'AUTH'];
    for (const ip of ['127.0.0.5', '127.0.0.6']) {
      const result = await swaks([...from(ip), ...swaksAuth(BOB.address, 'guess', 'LOGIN')]);
      expect(lastReply(result, 535), result.out).toMatch(/^535 5\.7\.8/);
    }
    const limited = await swaks([...from('127.0.0.7'), ...swaksAuth(BOB.address, BOB.password)]);
    expect(lastReply(limited, 454), limited.out).toMatch(/^454 4\.7\.0/);
    const other = await swaks([...from('127.0.0.7'), ...swaksAuth(ALICE.address, ALICE.password)]);
    expect(lastReply(other, 235), other.out).toMatch(/^235 2\.7\.0/);
  });

  it('counts failures under every spelling of an address against that one account: after 20 under four spellings, the right password gets 454 4.7.0', async () => {
    await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: 'spell@a.test', password: 'spell password' });
    const ports = await startApp({ authRules: rules(1_000, 10) });
    // A tab is refused by the SASL layer itself (501): that spelling opens nothing.
    expect((await (await tlsSession(ports.submission)).cmd(`AUTH PLAIN ${plain('spell@\ta.test', 'spell password')}`)).code).toBe(501);
    const spellings = ['spell@a.test.', 'spell@ a.test', 'SPELL@a.test', ' spell@a.test'];
    const codes: number[] = [];
    // One session per spelling: the library allows a session only so many commands before AUTH.
    for (const [n, spelling] of spellings.entries()) {
      const client = await tlsSession(ports.submission);
      for (let i = 0; i < 5; i++) codes.push((await client.cmd(`AUTH PLAIN ${plain(spelling, `guess ${n}-${i}`)}`)).code);
    }
    expect(codes).toEqual([...Array<number>(10).fill(535), ...Array<number>(10).fill(454)]);
    const fresh = await tlsSession(ports.submission);
    expect(await fresh.cmd(`AUTH PLAIN ${plain('spell@a.test', 'spell password')}`)).toMatchObject({ code: 454, enhanced: '4.7.0' });
  });

  it('counts twenty parallel wrong passwords for one account before checking any: ten get 535, ten get 454 4.7.0, then the right password gets 454', async () => {
    await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: 'para@a.test', password: 'para password' });
    const ports = await startApp({ authRules: rules(1_000, 10) });
    const sessions = [];
    for (let i = 0; i < 20; i++) sessions.push(await tlsSession(ports.submission));
    const replies = await Promise.all(sessions.map((client, i) => client.cmd(`AUTH PLAIN ${plain('para@a.test', `parallel guess ${i}`)}`)));
    expect(replies.map((r) => `${r.code} ${r.enhanced}`).sort()).toEqual([...Array<string>(10).fill('454 4.7.0'), ...Array<string>(10).fill('535 5.7.8')]);
    const fresh = await tlsSession(ports.submission);
    expect(await fresh.cmd(`AUTH PLAIN ${plain('para@a.test', 'para password')}`)).toMatchObject({ code: 454, enhanced: '4.7.0' });
  });

  it('a successful login does not reset the per-IP count', async () => {
    const ports = await startApp({ authRules: rules(2, 1_000) });
    const client = await tlsSession(ports.submission);
    expect(await client.cmd(`AUTH PLAIN ${plain(BOB.address, 'guess one')}`)).toMatchObject({ code: 535, enhanced: '5.7.8' });
    const good = await tlsSession(ports.submission);
    expect(await good.cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password)}`)).toMatchObject({ code: 235, enhanced: '2.7.0' });
    expect(await client.cmd(`AUTH PLAIN ${plain(BOB.address, 'guess two')}`)).toMatchObject({ code: 535, enhanced: '5.7.8' });
    const third = await tlsSession(ports.submission);
    expect(await third.cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password)}`)).toMatchObject({ code: 454, enhanced: '4.7.0' });
  });

  it('answers AUTH with 454 4.7.0 (fail closed) when the rate limiter cannot reach Redis', async () => {
    const deadRedis = createRedis(`redis://${HOST}:${await closedPort()}`, { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
    extraRedis.push(deadRedis);
    const ports = await startApp({ limiter: createRateLimiter(deadRedis) });
    const client = await tlsSession(ports.submission);
    expect(await client.cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password)}`)).toMatchObject({ code: 454, enhanced: '4.7.0' });
  });
});

describe('sender addresses', () => {
  it('refuses an envelope sender that is not the user\'s (553 5.7.1) and the null sender (553 5.7.1); accepts the user\'s alias', async () => {
    const client = await authedSession();
    const reply = await client.cmd(`MAIL FROM:<${BOB.address}>`);
    expect(reply).toMatchObject({ code: 553, enhanced: '5.7.1' });
    expect(reply.text).toBe(`5.7.1 Sender address rejected: <${BOB.address}> not owned by user <${ALICE.address}>`);
    expect(await client.cmd('MAIL FROM:<>')).toMatchObject({ code: 553, enhanced: '5.7.1' });
    expect(await client.cmd('MAIL FROM:<someone@elsewhere.test>')).toMatchObject({ code: 553, enhanced: '5.7.1' });
    expect(await client.cmd('MAIL FROM:<Sales@A.test>')).toMatchObject({ code: 250, enhanced: '2.1.0' });
  });

  it('refuses an alias that only receives for the user (no allow_send) with 553 5.7.1', async () => {
    const client = await authedSession();
    expect(await client.cmd('MAIL FROM:<support@a.test>')).toMatchObject({ code: 553, enhanced: '5.7.1' });
  });

  it('swaks: a spoofed envelope sender is refused at MAIL FROM with 553 5.7.1', async () => {
    const result = await swaks([...swaksServer(main.submission), ...swaksAuth(ALICE.address, ALICE.password), '--from', 'ceo@a.test', '--to', BOB.address]);
    expect(result.code, result.out).not.toBe(0);
    expect(lastReply(result, 553), result.out).toMatch(/^553 5\.7\.1 Sender address rejected/);
  });

  it('swaks: a spoofed From header with a good envelope is refused at the end of DATA with 553 5.7.1, and nothing is filed', async () => {
    const subject = 'spoofed from header';
    const result = await swaks([
      ...swaksServer(main.submission),
      ...swaksAuth(ALICE.address, ALICE.password),
      '--from',
      ALICE.address,
      '--to',
      BOB.address,
      '--header',
      'From: The Boss <bob@a.test>',
      '--header',
      `Subject: ${subject}`,
    ]);
    expect(result.code, result.out).not.toBe(0);
    expect(result.replies.some((r) => r.startsWith('354'))).toBe(true);
    expect(lastReply(result, 553), result.out).toMatch(/^553 5\.7\.1 From <bob@a\.test> is not one of your addresses/);
    expect(await filed(bobId, subject)).toEqual([]);
    expect(await filed(aliceId, subject)).toEqual([]);
  });

  it('refuses a second From or a second Sender header field with 553 5.7.1 at the end of DATA, and nothing is filed', async () => {
    const client = await authedSession();
    const cases = [
      { subject: 'two from fields', extra: ['From: The Boss <bob@a.test>', `From: ${ALICE.address}`] },
      { subject: 'two sender fields', extra: [`From: ${ALICE.address}`, `Sender: ${ALICE.address}`, 'Sender: bob@a.test'] },
    ];
    for (const { subject, extra } of cases) {
      const raw = Buffer.from([...extra, `To: ${BOB.address}`, `Subject: ${subject}`, '', 'hello', ''].join('\r\n'));
      const reply = await client.sendMail(ALICE.address, [BOB.address], raw);
      expect(reply, subject).toMatchObject({ code: 553, enhanced: '5.7.1' });
      expect(reply.text, subject).toMatch(/has 2 (From|Sender) header fields/);
      expect(await filed(bobId, subject)).toEqual([]);
      expect(await filed(aliceId, subject)).toEqual([]);
    }
  });

  it('refuses a message without a From header (550 5.6.0)', async () => {
    const client = await authedSession();
    const reply = await client.sendMail(ALICE.address, [BOB.address], message({ To: BOB.address, Subject: 'no from' }));
    expect(reply).toMatchObject({ code: 550, enhanced: '5.6.0' });
  });
});

describe('recipients', () => {
  it('accepts remote recipients (authenticated relay) and refuses an unknown local one (550 5.1.1)', async () => {
    const client = await authedSession();
    expect(await client.cmd(`MAIL FROM:<${ALICE.address}>`)).toMatchObject({ code: 250, enhanced: '2.1.0' });
    expect(await client.cmd('RCPT TO:<carol@remote.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(await client.cmd('RCPT TO:<nobody@a.test>')).toMatchObject({ code: 550, enhanced: '5.1.1' });
    expect(await client.cmd('RCPT TO:<bob+tag@a.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(await client.cmd('RCPT TO:<someone@localhost>')).toMatchObject({ code: 553, enhanced: '5.1.3' });
  });

  it('swaks: an unknown local recipient is refused with 550 5.1.1', async () => {
    const result = await swaks([...swaksServer(main.submission), ...swaksAuth(ALICE.address, ALICE.password), '--from', ALICE.address, '--to', 'nobody@a.test']);
    expect(result.code, result.out).not.toBe(0);
    expect(lastReply(result, 550), result.out).toMatch(/^550 5\.1\.1/);
  });

  it('refuses recipients over the per-message limit with 452 4.5.3', async () => {
    const ports = await startApp({ limits: { maxRecipients: 2 } });
    const client = await authedSession(ALICE.address, ALICE.password, ports.submission);
    await client.cmd(`MAIL FROM:<${ALICE.address}>`);
    expect(await client.cmd('RCPT TO:<r1@remote.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(await client.cmd('RCPT TO:<r2@remote.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(await client.cmd('RCPT TO:<r3@remote.test>')).toMatchObject({ code: 452, enhanced: '4.5.3' });
  });
});

describe('accepted mail', () => {
  it('answers 250 2.0.0 with the outbound id only once the Sent copy, the local INBOX copy and the queued remote delivery exist; drops Bcc, adds a Message-ID', async () => {
    const subject = 'good message to local and remote';
    const client = await authedSession(ALICE.address, aliceAppPassword);
    const raw = message({ From: `Alice <${ALICE.address}>`, To: `${BOB.address}, carol@remote.test`, Bcc: 'dave@hidden.test', Subject: subject }, 'Hello Bob and Carol.');
    const reply = await client.sendMail(ALICE.address, [BOB.address, 'carol@remote.test', 'dave@hidden.test'], raw);
    expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0' });
    const outboundId = queuedId(reply.text);

    const sent = await filed(aliceId, subject);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.special_use).toBe('\\Sent');
    expect(sent[0]!.flags).toContain('\\Seen');
    const inbox = await filed(bobId, subject);
    expect(inbox.map((m) => m.special_use)).toEqual(['\\Inbox']);
    for (const copy of [sent[0]!, inbox[0]!]) {
      const header = headerBlock(copy.data);
      expect(header).not.toMatch(/^bcc:/im);
      expect(header).not.toContain('dave@hidden.test');
      expect(header).toMatch(/^Message-ID: <[0-9a-f]+@a\.test>$/m);
      expect(header).toMatch(/^Received: from client\.a\.test\r\n\tby mail\.a\.test \(Mailyard\) with ESMTPSA id /m);
      expect(header).not.toContain(HOST);
      expect(copy.message_id_header).toMatch(/@a\.test>?$/);
    }

    const deliveries = await store.db
      .selectFrom('deliveries')
      .innerJoin('outbound_messages', 'outbound_messages.id', 'deliveries.outbound_id')
      .select(['deliveries.recipient', 'deliveries.status', 'deliveries.domain', 'outbound_messages.mail_from', 'outbound_messages.user_id'])
      .where('deliveries.outbound_id', '=', outboundId)
      .orderBy('deliveries.recipient')
      .execute();
    expect(deliveries).toEqual([
      { recipient: BOB.address, status: 'delivered', domain: 'a.test', mail_from: ALICE.address, user_id: aliceId },
      { recipient: 'carol@remote.test', status: 'queued', domain: 'remote.test', mail_from: ALICE.address, user_id: aliceId },
      { recipient: 'dave@hidden.test', status: 'queued', domain: 'hidden.test', mail_from: ALICE.address, user_id: aliceId },
    ]);
    for (const domain of ['remote.test', 'hidden.test']) {
      const job = await outbound.queue.getJob(outboundJobId({ outboundId, domain, attempt: 0 }));
      expect(job?.data).toEqual({ outboundId, domain, attempt: 0 });
    }
  });

  it('keeps a Message-ID the client set, and accepts mail sent as an alias', async () => {
    const subject = 'from the alias';
    const client = await authedSession();
    const raw = message({ From: 'Sales <sales@a.test>', To: BOB.address, Subject: subject, 'Message-ID': '<client-chosen@a.test>', Date: 'Mon, 01 Jan 2024 10:00:00 +0000' });
    expect(await client.sendMail('sales@a.test', [BOB.address], raw)).toMatchObject({ code: 250, enhanced: '2.0.0' });
    const [copy] = await filed(bobId, subject);
    expect(copy?.message_id_header).toMatch(/client-chosen@a\.test/);
    expect(headerBlock(copy!.data).match(/^Message-ID:/gim)).toHaveLength(1);
  });

  it('sends several messages in one authenticated session', async () => {
    const client = await authedSession();
    for (const n of [1, 2]) {
      const reply = await client.sendMail(ALICE.address, [BOB.address], message({ From: ALICE.address, To: BOB.address, Subject: `same session ${n}` }));
      expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0' });
    }
    expect(await filed(bobId, 'same session 2')).toHaveLength(1);
  });

  it('refuses a message over the size limit with 552 5.3.4 and files nothing', async () => {
    const client = await authedSession();
    const raw = message({ From: ALICE.address, To: BOB.address, Subject: 'too big' }, 'x'.repeat(SIZE_LIMIT));
    expect(await client.sendMail(ALICE.address, [BOB.address], raw)).toMatchObject({ code: 552, enhanced: '5.3.4' });
    expect(await filed(aliceId, 'too big')).toEqual([]);
  });

  it('answers 450 4.7.1 when the user is over the sending rate limit', async () => {
    const busy = await store.db.selectFrom('users').select('id').where('address', '=', 'busy@a.test').executeTakeFirstOrThrow();
    await redisConnection.set(`rl:${SENT_MESSAGES_PER_USER.name}:${busy.id}`, String(SENT_MESSAGES_PER_USER.max), 'EX', 600);
    const client = await authedSession('busy@a.test', 'busy password');
    const reply = await client.sendMail('busy@a.test', [BOB.address], message({ From: 'busy@a.test', To: BOB.address, Subject: 'over the limit' }));
    expect(reply).toMatchObject({ code: 450, enhanced: '4.7.1' });
    expect(await filed(bobId, 'over the limit')).toEqual([]);
  });

  it('answers 552 5.2.2 when the sender is at their storage quota (the Sent copy has no room), and sends nothing', async () => {
    await store.db.updateTable('users').set({ quota_bytes: 1 }).where('id', '=', aliceId).execute();
    try {
      const client = await authedSession(ALICE.address, ALICE.password);
      const reply = await client.sendMail(ALICE.address, [BOB.address], message({ From: ALICE.address, To: BOB.address, Subject: 'no room to send' }));
      expect(reply).toMatchObject({ code: 552, enhanced: '5.2.2' });
      expect(await filed(bobId, 'no room to send')).toEqual([]);
    } finally {
      await store.db.updateTable('users').set({ quota_bytes: null }).where('id', '=', aliceId).execute();
    }
  });
});

describe('store unavailable', () => {
  it('answers the end of DATA with 451 4.3.0, never 250, when the store goes away after RCPT, and nothing is written', async () => {
    const { db } = createDb({ connectionString: store.url, max: 3 });
    extraDbs.push(db);
    const ports = await startApp({ db });
    const subject = 'into the void';
    const client = await authedSession(ALICE.address, ALICE.password, ports.submission);
    expect(await client.cmd(`MAIL FROM:<${ALICE.address}>`)).toMatchObject({ code: 250, enhanced: '2.1.0' });
    expect(await client.cmd(`RCPT TO:<${BOB.address}>`)).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(await client.cmd('RCPT TO:<carol@remote.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    await db.destroy();
    extraDbs.splice(extraDbs.indexOf(db), 1);
    expect((await client.cmd('DATA')).code).toBe(354);
    const reply = await client.data(message({ From: ALICE.address, To: BOB.address, Subject: subject }));
    expect(reply).toMatchObject({ code: 451, enhanced: '4.3.0' });
    expect(await filed(aliceId, subject)).toEqual([]);
    expect(await filed(bobId, subject)).toEqual([]);
    expect(await store.db.selectFrom('outbound_messages').select('id').where('subject', '=', subject).execute()).toEqual([]);
  });

  it('answers AUTH with 454 4.7.0 when PostgreSQL cannot be reached', async () => {
    const { db } = createDb({ connectionString: `postgres://mailyard@${HOST}:${await closedPort()}/mailyard` });
    extraDbs.push(db);
    const ports = await startApp({ db });
    const client = await tlsSession(ports.submission);
    expect(await client.cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password)}`)).toMatchObject({ code: 454, enhanced: '4.7.0' });
  });
});
