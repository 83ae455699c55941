import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService, createDb, createInboundQueue, fileSpooled, inboundBatchJobId, inboundJobId, loadMessageBytes, silentLogger, type createRedis, type Db, type InboundQueue, type TlsMaterial } from '@mailyard/core';
import { connect, dotStuff, dotUnstuff, type SmtpReply, type SmtpTranscript } from '../../tests/helpers/smtp-transcript.js';
import { closedPort, createSmtpTestEnv, type SmtpTestEnv } from '../../tests/helpers/smtp-test-env.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { buildSmtpApp, type SmtpApp, type SmtpAppDeps } from './app.js';
import type { MxLimits } from './handlers/mx-session.handlers.js';
import { testSecrets } from '../../tests/helpers/secrets.js';

/**
 * SMTP transcripts against the MX listener, with a real PostgreSQL (spool, accounts) and a real
 * Redis (inbound queue). Each assertion names the reply code and the enhanced status code.
 */

const HOST = '127.0.0.1';
const LIMIT = 10_000;
const DEFAULT_LIMITS: MxLimits = {
  maxMessageSize: LIMIT,
  maxRecipients: 100,
  maxMessagesPerConnection: 100,
  maxConnectionsPerIp: 100,
  maxMessagesPerIpPerMinute: 1_000,
  maxClients: 500,
  maxDataPerIp: 100,
};

let store: TestStore;
let redisConnection: ReturnType<typeof createRedis>;
let inbound: InboundQueue;
let tlsMaterial: TlsMaterial;
let mainPort: number;

const apps: SmtpApp[] = [];
let env: SmtpTestEnv;
let clients: SmtpTranscript[];
let extraDbs: Db[];
const extraStores = new Set<TestStore>();

async function startApp(overrides: { limits?: Partial<MxLimits>; db?: Db; enqueueInbound?: SmtpAppDeps['enqueueInbound']; greetingDelayMs?: number; spillDir?: string } = {}): Promise<number> {
  const app = buildSmtpApp(
    { db: overrides.db ?? store.db, enqueueInbound: overrides.enqueueInbound ?? ((ids) => inbound.enqueue(ids)), log: silentLogger() },
    { hostname: 'mx.a.test', tls: tlsMaterial, limits: { ...DEFAULT_LIMITS, ...overrides.limits }, greetingDelayMs: overrides.greetingDelayMs, spillDir: overrides.spillDir },
  );
  apps.push(app);
  return app.listen(0, HOST);
}

async function open(port = mainPort): Promise<SmtpTranscript> {
  const client = await connect(HOST, port);
  clients.push(client);
  return client;
}

/** A connection that has said EHLO and whose greeting was 220. */
async function session(port = mainPort, helo = 'client.b.test'): Promise<SmtpTranscript> {
  const client = await open(port);
  expect(client.greeting.code).toBe(220);
  expect((await client.cmd(`EHLO ${helo}`)).code).toBe(250);
  return client;
}


function message(subject: string, body = 'hello'): Buffer {
  return Buffer.from(['From: Sender <sender@b.test>', 'To: alice@a.test', `Subject: ${subject}`, `Message-ID: <${subject.replace(/\W/g, '-')}@b.test>`, '', body, ''].join('\r\n'));
}

/** The spool id from `250 2.0.0 Ok: queued as S<id>`. */
function queuedId(reply: SmtpReply): number {
  const match = /queued as S(\d+)$/.exec(reply.text);
  if (!match) throw new Error(`no queue id in ${JSON.stringify(reply.text)}`);
  return Number(match[1]);
}

function spoolRows(db: Db, mailFrom: string) {
  return db.selectFrom('spool').selectAll().where('mail_from', '=', mailFrom).execute();
}


beforeAll(async () => {
  env = await createSmtpTestEnv('mx.a.test');
  ({ store, redis: redisConnection, tls: tlsMaterial, clients, extraDbs } = env);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('a.test');
  await accounts.addUser({ address: 'alice@a.test', password: 'correct horse battery' });
  await accounts.addUser({ address: 'bob@a.test', password: 'correct horse battery' });
  await accounts.addAlias('team@a.test', 'bob@a.test');

  inbound = createInboundQueue(redisConnection);

  mainPort = await startApp();
});

afterEach(async () => {
  await env.closeClients();
});

afterAll(async () => {
  await env?.closeClients();
  await Promise.all(apps.splice(0).map((a) => a.close()));
  await Promise.all([...extraStores].map((s) => s.drop()));
  await inbound?.close();
  await env?.close();
});

describe('greeting and EHLO', () => {
  it('greets with 220 <hostname> ESMTP and names the software once', async () => {
    const client = await open();
    expect(client.greeting).toMatchObject({ code: 220, text: 'mx.a.test ESMTP Mailyard', enhanced: null });
  });

  it('advertises SIZE <limit>, PIPELINING, 8BITMIME, SMTPUTF8, STARTTLS and ENHANCEDSTATUSCODES, and no AUTH on the MX', async () => {
    const client = await open();
    expect(client.greeting.code).toBe(220);
    const ehlo = await client.cmd('EHLO client.b.test');
    expect(ehlo.code).toBe(250);
    const keywords = ehlo.lines.slice(1).map((l) => l.toUpperCase());
    expect(keywords).toContain(`SIZE ${LIMIT}`);
    for (const ext of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'STARTTLS', 'ENHANCEDSTATUSCODES']) expect(keywords).toContain(ext);
    expect(keywords.some((k) => k.startsWith('AUTH'))).toBe(false);
  });

  it('with a greeting delay configured, refuses a client that talks before it is greeted', async () => {
    const port = await startApp({ greetingDelayMs: 5_000 });
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, HOST, () => socket.write('EHLO early.talker\r\n'));
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(reply).toMatch(/^421 /);
    expect(reply).not.toMatch(/^220 /m);
  });
});

describe('RCPT TO', () => {
  it('rejects an unknown user of a local domain (550 5.1.1)', async () => {
    const client = await session();
    await client.cmd('MAIL FROM:<sender@b.test>');
    const reply = await client.cmd('RCPT TO:<nobody@a.test>');
    expect(reply).toMatchObject({ code: 550, enhanced: '5.1.1' });
  });

  it('refuses to relay for a domain that is not local (550 5.7.1)', async () => {
    const client = await session();
    await client.cmd('MAIL FROM:<sender@b.test>');
    const reply = await client.cmd('RCPT TO:<someone@elsewhere.test>');
    expect(reply).toMatchObject({ code: 550, enhanced: '5.7.1' });
    expect(reply.text).toMatch(/relaying denied/);
  });

  it('accepts a plus-address, an alias and a mixed-case address of local users (250 2.1.5)', async () => {
    const client = await session();
    expect(await client.cmd('MAIL FROM:<rcpt-variants@b.test>')).toMatchObject({ code: 250, enhanced: '2.1.0' });
    expect(await client.cmd('RCPT TO:<alice+tag@a.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(await client.cmd('RCPT TO:<team@a.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(await client.cmd('RCPT TO:<ALICE@A.TEST>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect((await client.cmd('DATA')).code).toBe(354);
    expect(await client.data(message('variants'))).toMatchObject({ code: 250, enhanced: '2.0.0' });
    const [row] = await spoolRows(store.db, 'rcpt-variants@b.test');
    expect(row?.rcpt_to).toEqual(['alice+tag@a.test', 'team@a.test', 'alice@a.test']);
  });

  it('accepts any unknown address of a domain with a catch-all alias (@domain), and only of that domain (250 2.1.5)', async () => {
    const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
    await accounts.addDomain('catchall.test');
    await accounts.addAlias('@catchall.test', 'alice@a.test');
    const client = await session();
    expect(await client.cmd('MAIL FROM:<catch-all@b.test>')).toMatchObject({ code: 250, enhanced: '2.1.0' });
    // fresh addresses: RCPT verdicts are cached per address for a few seconds
    expect(await client.cmd('RCPT TO:<never-seen-before@catchall.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(await client.cmd('RCPT TO:<never-seen-before@a.test>')).toMatchObject({ code: 550, enhanced: '5.1.1' });
    expect(await client.cmd('RCPT TO:<never-seen-before@elsewhere.test>')).toMatchObject({ code: 550, enhanced: '5.7.1' });
    expect((await client.cmd('DATA')).code).toBe(354);
    expect(await client.data(message('catch-all'))).toMatchObject({ code: 250, enhanced: '2.0.0' });
    const [row] = await spoolRows(store.db, 'catch-all@b.test');
    expect(row?.rcpt_to).toEqual(['never-seen-before@catchall.test']);
  });
});

describe('command sequence and syntax', () => {
  it('answers MAIL before EHLO with a bad-sequence reply (503 5.5.1)', async () => {
    const client = await open();
    const reply = await client.cmd('MAIL FROM:<sender@b.test>');
    expect(reply).toMatchObject({ code: 503, enhanced: '5.5.1' });
  });

  it('answers RCPT before MAIL with a bad-sequence reply (503 5.5.1)', async () => {
    const client = await session();
    const reply = await client.cmd('RCPT TO:<alice@a.test>');
    expect(reply).toMatchObject({ code: 503, enhanced: '5.5.1' });
  });

  it('answers DATA before any accepted RCPT with a bad-sequence reply (503 5.5.1)', async () => {
    const client = await session();
    await client.cmd('MAIL FROM:<sender@b.test>');
    expect(await client.cmd('DATA')).toMatchObject({ code: 503, enhanced: '5.5.1' });
    // A refused recipient does not count either.
    expect(await client.cmd('RCPT TO:<someone@elsewhere.test>')).toMatchObject({ code: 550, enhanced: '5.7.1' });
    expect(await client.cmd('DATA')).toMatchObject({ code: 503, enhanced: '5.5.1' });
  });

  it('answers an unknown command with a syntax error (500 5.5.2)', async () => {
    const client = await session();
    const reply = await client.cmd('FOO');
    expect(reply).toMatchObject({ code: 500, enhanced: '5.5.2' });
  });

  it('answers a MAIL FROM whose address has no angle brackets with a sender syntax error (501 5.1.7)', async () => {
    const client = await session();
    const reply = await client.cmd('MAIL FROM:bogus');
    expect(reply).toMatchObject({ code: 501, enhanced: '5.1.7' });
  });

  it('answers a RCPT TO that is not an address with a syntax error (501 5.1.3)', async () => {
    const client = await session();
    await client.cmd('MAIL FROM:<sender@b.test>');
    expect(await client.cmd('RCPT TO:<alice@a..test>')).toMatchObject({ code: 501, enhanced: '5.1.3' });
  });

  it('answers a RCPT TO whose domain can never be a mail domain (single label, address literal) with 553 5.1.3', async () => {
    const client = await session();
    await client.cmd('MAIL FROM:<sender@b.test>');
    expect(await client.cmd('RCPT TO:<alice@localhost>')).toMatchObject({ code: 553, enhanced: '5.1.3' });
    expect(await client.cmd('RCPT TO:<alice@[127.0.0.1]>')).toMatchObject({ code: 553, enhanced: '5.1.3' });
  });

  it('accepts the null reverse-path of bounces (MAIL FROM:<>, 250 2.1.0) and spools it with an empty sender', async () => {
    const client = await session();
    expect(await client.cmd('MAIL FROM:<>')).toMatchObject({ code: 250, enhanced: '2.1.0' });
    expect(await client.cmd('RCPT TO:<alice@a.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect((await client.cmd('DATA')).code).toBe(354);
    const reply = await client.data(message('bounce'));
    expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0' });
    const row = await store.db.selectFrom('spool').select('mail_from').where('id', '=', queuedId(reply)).executeTakeFirstOrThrow();
    expect(row.mail_from).toBe('');
  });
});

describe('message size', () => {
  it('refuses a MAIL FROM that declares a SIZE over the limit (552 5.3.4) and accepts one at the limit', async () => {
    const client = await session();
    expect(await client.cmd(`MAIL FROM:<a@b.test> SIZE=${LIMIT + 1}`)).toMatchObject({ code: 552, enhanced: '5.3.4' });
    expect(await client.cmd(`MAIL FROM:<a@b.test> SIZE=${LIMIT}`)).toMatchObject({ code: 250, enhanced: '2.1.0' });
  });

  it('refuses a DATA body over the limit (552 5.3.4) and writes no spool row', async () => {
    const client = await session();
    const raw = message('too big', 'x'.repeat(LIMIT));
    expect(raw.length).toBeGreaterThan(LIMIT);
    const reply = await client.sendMail('oversize@b.test', ['alice@a.test'], raw);
    expect(reply).toMatchObject({ code: 552, enhanced: '5.3.4' });
    expect(await spoolRows(store.db, 'oversize@b.test')).toEqual([]);
    // The session goes on: the next transaction is accepted.
    expect(await client.cmd('MAIL FROM:<after-oversize@b.test>')).toMatchObject({ code: 250, enhanced: '2.1.0' });
  });

  it('accepts a DATA body of exactly the limit (250 2.0.0) and stores all of its bytes', async () => {
    const client = await session();
    const head = message('exactly the limit', '');
    const raw = Buffer.concat([head, Buffer.from('y'.repeat(LIMIT - head.length - 2)), Buffer.from('\r\n')]);
    expect(raw.length).toBe(LIMIT);
    const reply = await client.sendMail('at-limit@b.test', ['alice@a.test'], raw);
    expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0' });
    const blob = await store.db.selectFrom('blobs').innerJoin('spool', 'spool.blob_hash', 'blobs.hash').select('blobs.data').where('spool.id', '=', queuedId(reply)).executeTakeFirstOrThrow();
    expect(blob.data.equals(raw)).toBe(true);
  });
});

describe('STARTTLS', () => {
  it('upgrades the connection, stops advertising STARTTLS after the new EHLO, and records tls=true on mail accepted over TLS', async () => {
    const client = await session(mainPort, 'plain.b.test');
    expect((await client.startTls()).code).toBe(220);
    expect(client.secure).toBe(true);
    // RFC 3207 4.2: what the client said before TLS is forgotten; a new EHLO is required.
    expect(await client.cmd('MAIL FROM:<over-tls@b.test>')).toMatchObject({ code: 503, enhanced: '5.5.1' });
    const ehlo = await client.cmd('EHLO secure.b.test');
    expect(ehlo.code).toBe(250);
    const keywords = ehlo.lines.slice(1).map((l) => l.toUpperCase());
    expect(keywords).not.toContain('STARTTLS');
    expect(keywords).toContain(`SIZE ${LIMIT}`);
    const reply = await client.sendMail('over-tls@b.test', ['alice@a.test'], message('over tls'));
    expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0' });
    const row = await store.db.selectFrom('spool').selectAll().where('id', '=', queuedId(reply)).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ tls: true, helo: 'secure.b.test' });
    expect(row.trace_headers).toMatch(/with ESMTPS/);
  });
});

describe('accepted mail', () => {
  it('answers 250 2.0.0 only once the spool row and the exact raw bytes are committed and the inbound job spool-<id> exists', async () => {
    const client = await session();
    // Dot-stuffing matters: lines that start with ".", a line that is only ".", and 8-bit bytes.
    const raw = Buffer.concat([
      Buffer.from('From: Sender <sender@b.test>\r\nTo: alice@a.test\r\nSubject: exact bytes\r\n\r\n'),
      Buffer.from('.leading dot\r\n.\r\n..two dots\r\nnot a terminator: \r\n.x\r\n'),
      Buffer.from([0xc3, 0xa9, 0xff, 0x00, 0x0d, 0x0a]),
      Buffer.from('last line\r\n'),
    ]);
    expect(dotUnstuff(dotStuff(raw)).equals(raw)).toBe(true);
    const reply = await client.sendMail('exact@b.test', ['alice@a.test', 'team@a.test'], raw);
    expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0' });
    const spoolId = queuedId(reply);

    // Read right after the 250, from another connection of the pool: committed, not in flight.
    const row = await store.db.selectFrom('spool').selectAll().where('id', '=', spoolId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ mail_from: 'exact@b.test', rcpt_to: ['alice@a.test', 'team@a.test'], remote_ip: HOST, helo: 'client.b.test', tls: false, status: 'pending' });
    expect(row.trace_headers).toMatch(/^Authentication-Results: mx\.a\.test;\r\n[^]*\r\nReceived: from client\.b\.test \(\[127\.0\.0\.1\]\)/);
    const blob = await store.db.selectFrom('blobs').select(['data', 'size']).where('hash', '=', row.blob_hash).executeTakeFirstOrThrow();
    expect(blob.data.equals(dotUnstuff(dotStuff(raw)))).toBe(true);
    expect(blob.size).toBe(raw.length);

    // A commit of this message alone: one job for that row, named by it.
    const job = await inbound.queue.getJob(inboundJobId(spoolId));
    expect(job?.data).toEqual({ spoolIds: [spoolId] });
  });

  it('names in each 250 the spool row of that very message when many connections finish DATA together (group commit)', async () => {
    const count = 25;
    const senders = Array.from({ length: count }, (_, i) => `concurrent-${i}@b.test`);
    const raws = senders.map((_, i) => message(`concurrent ${i}`, `body number ${i}`));
    const clientsReady = await Promise.all(senders.map(() => session()));
    const replies = await Promise.all(clientsReady.map((client, i) => client.sendMail(senders[i]!, ['bob@a.test'], raws[i]!)));
    const ids = replies.map((reply) => {
      expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0' });
      return queuedId(reply);
    });
    expect(new Set(ids).size).toBe(count);
    const rows = await store.db.selectFrom('spool').innerJoin('blobs', 'blobs.hash', 'spool.blob_hash').select(['spool.id', 'spool.mail_from', 'blobs.data']).where('spool.id', 'in', ids).execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    ids.forEach((id, i) => {
      expect(byId.get(id)?.mail_from).toBe(senders[i]);
      expect(byId.get(id)?.data.equals(raws[i]!)).toBe(true);
    });
    // One job per spool commit, named by its rows: each message is in exactly one.
    const jobs = (await inbound.queue.getJobs(['waiting'])).filter((job) => job.data.spoolIds?.some((id: number) => ids.includes(id)));
    expect(jobs.flatMap((job) => job.data.spoolIds).sort()).toEqual([...ids].sort());
    for (const job of jobs) expect(job.id).toBe(inboundBatchJobId(job.data.spoolIds));
  });

  it('accepts an internationalised sender with SMTPUTF8 and stores it as UTF-8', async () => {
    const client = await session();
    expect(await client.cmd('MAIL FROM:<jösé@bücher.test> SMTPUTF8')).toMatchObject({ code: 250, enhanced: '2.1.0' });
    expect(await client.cmd('RCPT TO:<alice@a.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect((await client.cmd('DATA')).code).toBe(354);
    const raw = Buffer.from('From: José <jösé@bücher.test>\r\nTo: alice@a.test\r\nSubject: Grüße\r\n\r\nÄrger? Nein.\r\n', 'utf8');
    const reply = await client.data(raw);
    expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0' });
    const row = await store.db.selectFrom('spool').innerJoin('blobs', 'blobs.hash', 'spool.blob_hash').select(['spool.mail_from', 'blobs.data']).where('spool.id', '=', queuedId(reply)).executeTakeFirstOrThrow();
    expect(row.mail_from).toBe('jösé@bücher.test');
    expect(row.data.equals(raw)).toBe(true);
  });

  it('accepts pipelined MAIL, RCPT and DATA and answers each in order', async () => {
    const client = await session();
    client.send('MAIL FROM:<pipelined@b.test>');
    client.send('RCPT TO:<bob@a.test>');
    client.send('DATA');
    expect(await client.reply()).toMatchObject({ code: 250, enhanced: '2.1.0' });
    expect(await client.reply()).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect((await client.reply()).code).toBe(354);
    expect(await client.data(message('pipelined'))).toMatchObject({ code: 250, enhanced: '2.0.0' });
    expect(await spoolRows(store.db, 'pipelined@b.test')).toHaveLength(1);
  });

  it('answers a pipelined MAIL, RCPT and DATA that arrive together in ONE socket write', async () => {
    const client = await session();
    // The recipient is looked up once first (then cached): the group's replies are all made at once.
    expect(await client.cmd('MAIL FROM:<warm-up@b.test>')).toMatchObject({ code: 250 });
    expect(await client.cmd('RCPT TO:<bob@a.test>')).toMatchObject({ code: 250 });
    expect(await client.cmd('RSET')).toMatchObject({ code: 250 });
    const connection = [...(apps[0]!.mx as unknown as { connections: Set<{ _socket: { _handle: Record<string, unknown> } }> }).connections].at(-1)!;
    // Every write the socket makes goes through one of these methods of its handle (one system call each).
    const handle = connection._socket._handle;
    let writes = 0;
    for (const method of ['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String', 'writeAsciiString', 'writeUcs2String']) {
      const original = handle[method] as (...args: unknown[]) => unknown;
      handle[method] = (...args: unknown[]) => {
        writes += 1;
        return original.apply(handle, args);
      };
    }
    client.sendRaw(Buffer.from('MAIL FROM:<batched@b.test>\r\nRCPT TO:<bob@a.test>\r\nDATA\r\n'));
    expect(await client.reply()).toMatchObject({ code: 250, enhanced: '2.1.0' });
    expect(await client.reply()).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect((await client.reply()).code).toBe(354);
    expect(writes).toBe(1);
    expect(await client.data(message('batched'))).toMatchObject({ code: 250, enhanced: '2.0.0' });
    expect(writes).toBe(2);
  });
});

describe('store unavailable', () => {
  it('answers RCPT with a temporary failure (451 4.3.0) when PostgreSQL cannot be reached', async () => {
    const { db } = createDb({ connectionString: `postgres://mailyard@${HOST}:${await closedPort()}/mailyard` });
    extraDbs.push(db);
    const port = await startApp({ db });
    const client = await session(port);
    expect(await client.cmd('MAIL FROM:<sender@b.test>')).toMatchObject({ code: 250 });
    expect(await client.cmd('RCPT TO:<alice@a.test>')).toMatchObject({ code: 451, enhanced: '4.3.0' });
  });

  it('answers the end of DATA with a temporary failure (451 4.3.0), never 250, when the database disappears after RCPT', async () => {
    const doomed = await createTestStore();
    extraStores.add(doomed);
    const accounts = createAccountsService({ db: doomed.db, secrets: testSecrets });
    await accounts.addDomain('a.test');
    await accounts.addUser({ address: 'alice@a.test', password: 'correct horse battery' });
    // The app has a pool of its own, like the real service: the drop terminates its connections.
    const { db } = createDb({ connectionString: doomed.url, max: 5 });
    extraDbs.push(db);
    const port = await startApp({ db });
    const client = await session(port);
    expect(await client.cmd('MAIL FROM:<sender@b.test>')).toMatchObject({ code: 250, enhanced: '2.1.0' });
    expect(await client.cmd('RCPT TO:<alice@a.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    extraStores.delete(doomed);
    await doomed.drop();
    expect((await client.cmd('DATA')).code).toBe(354);
    const reply = await client.data(message('into the void'));
    expect(reply).toMatchObject({ code: 451, enhanced: '4.3.0' });
  });
});

describe('Redis unavailable', () => {
  it('still answers 250 2.0.0 when the enqueue fails (the message is durable) and leaves the spool row pending', async () => {
    const port = await startApp({ enqueueInbound: () => Promise.reject(new Error('redis is down')) });
    const client = await session(port);
    const reply = await client.sendMail('no-redis@b.test', ['alice@a.test'], message('no redis'));
    expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0' });
    const spoolId = queuedId(reply);
    const row = await store.db.selectFrom('spool').select(['status']).where('id', '=', spoolId).executeTakeFirstOrThrow();
    expect(row.status).toBe('pending');
    expect(await inbound.queue.getJob(`spool-${spoolId}`)).toBeUndefined();
  });
});

describe('limits', () => {
  it('refuses a recipient over the per-message limit with a temporary failure (452 4.5.3)', async () => {
    const port = await startApp({ limits: { maxRecipients: 2 } });
    const client = await session(port);
    await client.cmd('MAIL FROM:<sender@b.test>');
    expect(await client.cmd('RCPT TO:<alice@a.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(await client.cmd('RCPT TO:<bob@a.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(await client.cmd('RCPT TO:<team@a.test>')).toMatchObject({ code: 452, enhanced: '4.5.3' });
  });

  it('refuses a MAIL over the per-connection message limit (451 4.7.0)', async () => {
    const port = await startApp({ limits: { maxMessagesPerConnection: 1 } });
    const client = await session(port);
    expect(await client.sendMail('per-connection@b.test', ['alice@a.test'], message('first of the connection'))).toMatchObject({ code: 250, enhanced: '2.0.0' });
    expect(await client.cmd('MAIL FROM:<per-connection@b.test>')).toMatchObject({ code: 451, enhanced: '4.7.0' });
  });

  it('greets a connection over the per-IP connection limit with 421 4.7.0 and closes it', async () => {
    const port = await startApp({ limits: { maxConnectionsPerIp: 1 } });
    await session(port);
    const second = await open(port);
    expect(second.greeting).toMatchObject({ code: 421, enhanced: '4.7.0' });
    await second.closed;
    expect(second.isOpen).toBe(false);
  });

  it('refuses a MAIL over the per-IP messages-per-minute limit, across connections (451 4.7.1)', async () => {
    const port = await startApp({ limits: { maxMessagesPerIpPerMinute: 2 } });
    const first = await session(port);
    const second = await session(port);
    expect(await first.cmd('MAIL FROM:<rate@b.test>')).toMatchObject({ code: 250, enhanced: '2.1.0' });
    expect(await first.cmd('RSET')).toMatchObject({ code: 250 });
    expect(await second.cmd('MAIL FROM:<rate@b.test>')).toMatchObject({ code: 250, enhanced: '2.1.0' });
    expect(await second.cmd('RSET')).toMatchObject({ code: 250 });
    expect(await first.cmd('MAIL FROM:<rate@b.test>')).toMatchObject({ code: 451, enhanced: '4.7.1' });
  });
});

describe('large messages: DATA past the threshold goes to a private temp file, not RAM', () => {
  const spillDir = () => path.join(env.dir, 'spool-temp');
  const tempFiles = () => (fs.existsSync(spillDir()) ? fs.readdirSync(spillDir()) : []);

  /** Polls `check` until it holds; fails with `what` after the deadline. */
  async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** A message of about `megabytes` MB as lines (sent one by one, so a test can stop half-way). */
  function bigMessage(subject: string, megabytes: number): string[] {
    const header = ['From: Big Sender <big@b.test>', 'To: alice@a.test', `Subject: ${subject}`, `Message-ID: <${subject.replace(/\W/g, '-')}@b.test>`, ''];
    const count = Math.ceil((megabytes * 1024 * 1024) / 1000);
    return [...header, ...Array.from({ length: count }, (_, i) => `${String(i).padStart(7, '0')} ${'0123456789abcdef'.repeat(62)}`)];
  }

  it('writes a 10 MB message to a 0700 temp folder while it arrives, spools and files it intact, and has removed the file when it answers 250', async () => {
    const port = await startApp({ limits: { maxMessageSize: 12 * 1024 * 1024 }, spillDir: spillDir() });
    const client = await session(port);
    const lines = bigMessage('ten megabytes', 10);
    const raw = Buffer.from(`${lines.join('\r\n')}\r\n`);
    expect(raw.length).toBeGreaterThan(10 * 1024 * 1024);
    expect((await client.cmd('MAIL FROM:<big@b.test>')).code).toBe(250);
    expect((await client.cmd('RCPT TO:<alice@a.test>')).code).toBe(250);
    expect((await client.cmd('DATA')).code).toBe(354);
    const half = Math.floor(lines.length / 2);
    for (const line of lines.slice(0, half)) client.send(line);
    await until('the message is being written to a temp file', () => tempFiles().length === 1);
    expect(fs.statSync(spillDir()).mode & 0o777).toBe(0o700);
    for (const line of lines.slice(half, -1)) client.send(line);
    const reply = await client.data(Buffer.from(`${lines.at(-1)}\r\n`));
    expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0' });
    expect(tempFiles()).toEqual([]);

    const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    const spoolId = queuedId(reply);
    const row = await store.db.selectFrom('spool').selectAll().where('id', '=', spoolId).executeTakeFirstOrThrow();
    const blob = await store.db.selectFrom('blobs').select(['data', 'size']).where('hash', '=', row.blob_hash).executeTakeFirstOrThrow();
    expect(blob.size).toBe(raw.length);
    expect(sha256(blob.data)).toBe(sha256(raw));

    expect(await fileSpooled({ db: store.db, events: { publish: async () => {} }, log: silentLogger() }, spoolId)).toMatchObject({ status: 'filed', filed: 1 });
    const stored = await store.db.selectFrom('messages').select(['id', 'user_id']).where('spool_id', '=', spoolId).executeTakeFirstOrThrow();
    const bytes = await loadMessageBytes(store.db, stored.user_id, stored.id);
    expect(sha256(bytes.subarray(bytes.length - raw.length))).toBe(sha256(raw));
  });

  it('removes the temp file of a client that goes away in the middle of DATA, and spools nothing', async () => {
    const port = await startApp({ limits: { maxMessageSize: 12 * 1024 * 1024 }, spillDir: spillDir() });
    const client = await session(port);
    expect((await client.cmd('MAIL FROM:<vanishing@b.test>')).code).toBe(250);
    expect((await client.cmd('RCPT TO:<alice@a.test>')).code).toBe(250);
    expect((await client.cmd('DATA')).code).toBe(354);
    for (const line of bigMessage('never finished', 2)) client.send(line);
    await until('the message is being written to a temp file', () => tempFiles().length === 1);
    await client.close();
    await until('the temp file is removed', () => tempFiles().length === 0);
    expect(await spoolRows(store.db, 'vanishing@b.test')).toEqual([]);
  });
});
