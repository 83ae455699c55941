import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { freePort } from '../../core/src/local/process-utils.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { eventually, runCommand, spawnService, waitForSmtpGreeting, type ServiceProcess } from '../helpers/services.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { testSecrets } from '../helpers/secrets.js';

/**
 * Mail from the Internet into mailboxes, with the real processes: smtp-server and inbound-worker
 * each run as their own process (as compose runs them) on a real PostgreSQL and Redis. Real SMTP
 * clients send 200 messages: nodemailer, swaks and Postfix's smtp-source. The worker is killed
 * with SIGKILL mid-run and restarted. Every message must be filed exactly once, threads must be
 * right, and the stored bytes must be the bytes that were sent.
 */

type Who = 'alice' | 'bob';
interface Sent {
  messageId: string;
  raw: Buffer;
  rcpts: string[];
  expect: Who[];
  conversation?: number;
}

const RCPT_PLANS: Array<{ rcpts: string[]; expect: Who[] }> = [
  { rcpts: ['alice@a.test'], expect: ['alice'] },
  { rcpts: ['bob@a.test'], expect: ['bob'] },
  { rcpts: ['team@a.test'], expect: ['bob'] },
  { rcpts: ['alice@a.test', 'team@a.test', 'bob+lists@a.test'], expect: ['alice', 'bob'] },
];

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let smtp: ServiceProcess;
const workers: ServiceProcess[] = [];
let smtpPort: number;
let env: Record<string, string>;
let dataDir: string;
const users: Record<Who, number> = { alice: 0, bob: 0 };

function crlf(lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n');
}

/** Hand-built messages in legacy charsets (bytes, not UTF-8 strings). */
function legacyCharsetMessage(i: number, messageId: string): { raw: Buffer; subjectText: string } {
  const variants = [
    { charset: 'iso-8859-1', body: Buffer.from('Grüße aus Köln, ça va très bien.', 'latin1'), text: 'Grüße aus Köln' },
    { charset: 'koi8-r', body: Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4, 0x20, 0xcd, 0xc9, 0xd2]), text: 'Привет мир' },
    { charset: 'shift_jis', body: Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea]), text: '日本語' },
  ];
  const v = variants[i % variants.length]!;
  const head = crlf([
    'From: Legacy Sender <legacy@remote.test>',
    'To: alice@a.test',
    `Subject: charset ${v.charset} ${i}`,
    `Message-ID: ${messageId}`,
    'Date: Mon, 23 Nov 2026 09:00:00 +0000',
    'MIME-Version: 1.0',
    `Content-Type: text/plain; charset=${v.charset}`,
    'Content-Transfer-Encoding: 8bit',
    '',
  ]);
  return { raw: Buffer.concat([head, v.body, Buffer.from('\r\n')]), subjectText: v.text };
}

async function composed(options: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  return new MailComposer(options).compile().build();
}

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('a.test');
  users.alice = (await accounts.addUser({ address: 'alice@a.test', password: 'alice password' })).id;
  users.bob = (await accounts.addUser({ address: 'bob@a.test', password: 'bob password' })).id;
  await accounts.addAlias('team@a.test', 'bob@a.test');

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-sys-'));
  smtpPort = await freePort();
  env = {
    DATABASE_URL: store.url,
    REDIS_URL: redis.url,
    DATA_DIR: dataDir,
    MAIL_HOSTNAME: 'mx.a.test',
    BIND_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SMTP_PORT: String(smtpPort),
    // A crashed worker's jobs are taken over after 2 s instead of 30 s.
    INBOUND_LOCK_MS: '2000',
    SPOOL_RECONCILE_INTERVAL_MS: '1000',
    SPOOL_RECONCILE_AGE_MS: '3000',
  };
  smtp = spawnService('smtp-server', env);
  workers.push(spawnService('inbound-worker', env));
  await waitForSmtpGreeting(smtpPort);
});

afterAll(async () => {
  await Promise.all([smtp?.stop(), ...workers.map((w) => w.stop())]);
  await redis?.flush();
  await store?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('mail from the Internet into mailboxes (real processes)', () => {
  it('files 200 messages from nodemailer, swaks and smtp-source exactly once each, across a worker SIGKILL', async () => {
    const sent: Sent[] = [];
    const conversations = new Map<number, string[]>();
    let n = 0;

    // 1. nodemailer: 100 messages — multipart, attachments, legacy charsets, threaded replies.
    for (let i = 0; i < 100; i++) {
      const plan = RCPT_PLANS[i % RCPT_PLANS.length]!;
      const messageId = `<nm-${i}-${randomBytes(4).toString('hex')}@remote.test>`;
      let raw: Buffer;
      let conversation: number | undefined;
      if (i % 10 === 3) {
        raw = legacyCharsetMessage(i, messageId).raw;
      } else if (i < 40) {
        // 10 conversations of 4 messages: a root and three replies referencing everything before.
        conversation = i % 10;
        const chain = conversations.get(conversation) ?? [];
        raw = await composed({
          from: 'Carol <carol@remote.test>',
          to: plan.rcpts.join(', '),
          subject: chain.length === 0 ? `Conversation ${conversation}` : `Re: Conversation ${conversation}`,
          messageId,
          ...(chain.length > 0 ? { inReplyTo: chain[chain.length - 1], references: chain } : {}),
          text: `message ${i} in conversation ${conversation}`,
          html: `<p>message <b>${i}</b></p>`,
        });
        conversations.set(conversation, [...chain, messageId]);
      } else {
        raw = await composed({
          from: 'Dave <dave@remote.test>',
          to: plan.rcpts.join(', '),
          subject: `Report ${i} — résumé ✓`,
          messageId,
          text: `Plain text ${i}`,
          html: `<h1>Report ${i}</h1>`,
          attachments: [
            { filename: `data-${i}.bin`, content: randomBytes(2048 + i * 31) },
            { filename: 'notes é.txt', content: `notes for ${i}\n`, contentType: 'text/plain; charset=utf-8' },
            ...(i % 3 === 0 ? [{ content: randomBytes(300), contentType: 'application/octet-stream' }] : []),
          ],
        });
      }
      sent.push({ messageId, raw, rcpts: plan.rcpts, expect: plan.expect, conversation });
      n++;
    }
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, tls: { rejectUnauthorized: false }, pool: true, maxConnections: 5 });
    const sendNodemailer = (items: Sent[]) =>
      Promise.all(items.map((s) => transport.sendMail({ envelope: { from: 'bounces@remote.test', to: s.rcpts }, raw: s.raw })));

    // First half, then crash the worker while the second half is arriving.
    await sendNodemailer(sent.slice(0, 50));
    const secondHalf = sendNodemailer(sent.slice(50, 100));
    await workers[0]!.kill();
    const results = await secondHalf;
    expect(results.every((r) => r.response.startsWith('250'))).toBe(true);
    transport.close();
    // Accepted while no worker runs: durable in the spool, waiting.
    expect((await store.db.selectFrom('spool').select('id').where('status', '=', 'pending').execute()).length).toBeGreaterThan(0);

    // 2. swaks: 40 messages from files, exact bytes (STARTTLS on every other one).
    const swaksDir = fs.mkdtempSync(path.join(dataDir, 'swaks-'));
    for (let i = 0; i < 40; i++) {
      const plan = RCPT_PLANS[(i + 1) % RCPT_PLANS.length]!;
      const messageId = `<sw-${i}-${randomBytes(4).toString('hex')}@remote.test>`;
      const raw = crlf([
        'From: Erin <erin@remote.test>',
        `To: ${plan.rcpts.join(', ')}`,
        `Subject: swaks ${i}`,
        `Message-ID: ${messageId}`,
        'Date: Mon, 23 Nov 2026 11:00:00 +0000',
        '',
        `Body line for swaks message ${i}.`,
        '.a line that starts with a dot (dot-stuffed on the wire)',
        '',
      ]);
      const file = path.join(swaksDir, `${i}.eml`);
      // swaks sends the file, then CRLF, then the terminating dot: the bytes on the wire are `raw`.
      fs.writeFileSync(file, raw.subarray(0, raw.length - 2));
      const args = ['--server', `127.0.0.1:${smtpPort}`, '--from', 'erin@remote.test', '--to', plan.rcpts.join(','), '--data', `@${file}`, '--silent', '2'];
      if (i % 2 === 0) args.push('--tls');
      const result = await runCommand('swaks', args);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      sent.push({ messageId, raw, rcpts: plan.rcpts, expect: plan.expect });
      n++;
    }

    // The worker comes back: everything accepted meanwhile, and what it was doing when killed, gets filed.
    workers.push(spawnService('inbound-worker', env));

    // 3. Postfix's smtp-source: 60 messages over 4 parallel sessions to alice.
    const load = await runCommand('smtp-source', ['-s', '4', '-m', '60', '-f', 'load@remote.test', '-t', 'alice@a.test', '-S', 'smtp-source load', `127.0.0.1:${smtpPort}`]);
    expect(load.code, load.stderr).toBe(0);
    n += 60;
    expect(n).toBe(200);

    // Wait until every accepted message is filed.
    const expectedPer: Record<Who, number> = { alice: 60, bob: 0 };
    for (const s of sent) for (const who of s.expect) expectedPer[who]++;
    const count = async (userId: number) =>
      Number((await store.db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow()).n);
    await eventually(
      async () => (await count(users.alice)) >= expectedPer.alice && (await count(users.bob)) >= expectedPer.bob && (await store.db.selectFrom('spool').select('id').where('status', '=', 'pending').execute()).length === 0,
      {
        timeoutMs: 90_000,
        intervalMs: 250,
        describe: async () => `alice ${await count(users.alice)}/${expectedPer.alice}, bob ${await count(users.bob)}/${expectedPer.bob}; worker output: ${workers.map((w) => w.output()).join('\n')}`,
      },
    );
    expect(await count(users.alice)).toBe(expectedPer.alice);
    expect(await count(users.bob)).toBe(expectedPer.bob);
    expect(await store.db.selectFrom('spool').select('id').where('status', '!=', 'done').execute()).toEqual([]);

    // Exactly once, byte-identical.
    const rows = await store.db.selectFrom('messages').innerJoin('blobs', 'blobs.hash', 'messages.blob_hash').select(['messages.user_id', 'messages.message_id_header', 'messages.thread_id', 'messages.uid', 'messages.mailbox_id', 'blobs.data']).execute();
    for (const s of sent) {
      for (const who of ['alice', 'bob'] as const) {
        const copies = rows.filter((r) => r.user_id === users[who] && r.message_id_header === s.messageId);
        expect(copies.length, `${s.messageId} for ${who}`).toBe(s.expect.includes(who) ? 1 : 0);
        for (const copy of copies) expect(copy.data.equals(s.raw), `${s.messageId} bytes`).toBe(true);
      }
    }
    expect(rows.filter((r) => r.user_id === users.alice && r.data.includes('smtp-source load'))).toHaveLength(60);

    // UIDs unique per mailbox and the counters agree with the rows.
    for (const who of ['alice', 'bob'] as const) {
      const mine = rows.filter((r) => r.user_id === users[who]);
      expect(new Set(mine.map((r) => r.uid)).size).toBe(mine.length);
      const inbox = await store.db.selectFrom('mailboxes').selectAll().where('user_id', '=', users[who]).where('special_use', '=', '\\Inbox').executeTakeFirstOrThrow();
      expect(inbox.message_count).toBe(mine.length);
      expect(inbox.uidnext).toBeGreaterThan(Math.max(...mine.map((r) => r.uid)));
    }

    // Threads: each conversation is one thread per user, and different conversations differ.
    for (const who of ['alice', 'bob'] as const) {
      const threadOf = new Map<number, Set<number>>();
      for (const s of sent.filter((x) => x.conversation !== undefined && x.expect.includes(who))) {
        const row = rows.find((r) => r.user_id === users[who] && r.message_id_header === s.messageId)!;
        threadOf.set(s.conversation!, (threadOf.get(s.conversation!) ?? new Set()).add(row.thread_id));
      }
      const threadIds = [...threadOf.values()].map((set) => {
        expect(set.size).toBe(1);
        return [...set][0];
      });
      expect(new Set(threadIds).size).toBe(threadIds.length);
    }

    // Legacy charsets were decoded for search and display.
    const decoded = await store.db.selectFrom('messages').select(['snippet']).where('user_id', '=', users.alice).where('subject', 'like', 'charset koi8-r%').execute();
    expect(decoded.length).toBeGreaterThan(0);
    expect(decoded.every((r) => r.snippet.includes('Привет мир'))).toBe(true);
    // Its own waits are bounded (the filing wait: 90 s); about 35 s on a quiet machine, past 60 s when the
    // machine runs other suites at once.
  }, 180_000);
});
