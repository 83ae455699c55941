import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { Redis } from 'ioredis';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { createRedisEventPublisher } from '../../core/src/events/publisher.js';
import { freePort } from '../../core/src/local/process-utils.js';
import { setFlags } from '../../core/src/mail/mailbox-writer/index.js';
import { connectImap } from '../helpers/imap-transcript.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { eventually, runCommand, spawnService, waitForSmtpGreeting, type ServiceProcess } from '../helpers/services.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { testSecrets } from '../helpers/secrets.js';

/**
 * The built imap-server as its own process (next to smtp-server and inbound-worker) on a private
 * store, driven by real clients: imapflow (STARTTLS with the self-signed certificate) for a
 * whole session, IDLE woken by mail arriving over SMTP and by a flag set through the mailbox
 * writer, and Python's imaplib.
 */

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
const services: ServiceProcess[] = [];
const clients: ImapFlow[] = [];
let dataDir: string;
let ports: { smtp: number; imap: number; imaps: number };
let alice: number;

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('imap.test');
  alice = (await accounts.addUser({ address: 'alice@imap.test', password: 'alice password' })).id;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-imap-sys-'));
  ports = { smtp: await freePort(), imap: await freePort(), imaps: await freePort() };
  const env = {
    DATABASE_URL: store.url,
    REDIS_URL: redis.url,
    DATA_DIR: dataDir,
    MAIL_HOSTNAME: 'mx.imap.test',
    BIND_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SMTP_PORT: String(ports.smtp),
    IMAP_PORT: String(ports.imap),
    IMAPS_PORT: String(ports.imaps),
  };
  // smtp-server first: it writes the self-signed certificate the others then read.
  services.push(spawnService('smtp-server', env));
  await waitForSmtpGreeting(ports.smtp);
  services.push(spawnService('inbound-worker', env), spawnService('imap-server', env));
  await eventually(
    async () => {
      try {
        const c = await connectImap(ports.imap);
        const greeting = await c.greeting();
        c.close();
        return greeting.startsWith('* OK');
      } catch {
        return false;
      }
    },
    { timeoutMs: 30_000, describe: () => services.map((s) => s.output()).join('\n') },
  );
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.logout().catch(() => undefined)));
  await Promise.all(services.map((s) => s.stop()));
  await redis?.flush();
  await store?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function imapflow(): Promise<ImapFlow> {
  const client = new ImapFlow({ host: '127.0.0.1', port: ports.imap, secure: false, tls: { rejectUnauthorized: false }, auth: { user: 'alice@imap.test', pass: 'alice password' }, logger: false });
  await client.connect();
  clients.push(client);
  // imapflow turns on COMPRESS=DEFLATE (RFC 4978) after sign-in when offered, as Thunderbird does: these sessions run compressed.
  expect((client as unknown as { _deflate?: unknown })._deflate, 'imapflow negotiated COMPRESS=DEFLATE').toBeTruthy();
  return client;
}

/** How many messages a folder holds, by STATUS. */
async function messagesIn(client: ImapFlow, folder: string): Promise<number> {
  const status = await client.status(folder, { messages: true });
  return status ? (status.messages ?? -1) : -1;
}

async function sendOverSmtp(subject: string, messageId: string): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: ports.smtp, secure: false, tls: { rejectUnauthorized: false } });
  try {
    const info = await transport.sendMail({ from: 'Carol <carol@remote.test>', to: 'alice@imap.test', subject, messageId, text: `${subject} body\n` });
    expect(info.response).toMatch(/^250/);
  } finally {
    transport.close();
  }
}

describe('imap-server with real clients', () => {
  it('serves an imapflow session: list, select, fetch, search, flags, move and append', async () => {
    await sendOverSmtp('First over SMTP', '<first@remote.test>');
    // LOGIN is refused before TLS (IMAP_ALLOW_PLAINTEXT_AUTH is off): signing in proves the STARTTLS upgrade.
    const client = await imapflow();
    const folders = await client.list();
    expect(folders.find((f) => f.specialUse === '\\Sent')?.path).toBe('Sent');
    expect(folders.map((f) => f.path)).toEqual(expect.arrayContaining(['INBOX', 'Drafts', 'Sent', 'Archive', 'Junk', 'Trash']));

    const inbox = await client.mailboxOpen('INBOX');
    // Polled as a client polls its selected mailbox: NOOP, then the session's own EXISTS (a STATUS
    // may count the message before this session's view has it: FETCH * would then name nothing).
    await eventually(async () => (await client.noop(), (client.mailbox ? client.mailbox.exists : 0) >= 1), { timeoutMs: 15_000 });
    expect(inbox.uidValidity).toBeGreaterThan(0n);
    const message = await client.fetchOne('*', { envelope: true, source: true, flags: true, uid: true });
    expect(message && message.envelope?.subject).toBe('First over SMTP');
    expect(message && message.envelope?.from?.[0]?.address).toBe('carol@remote.test');
    expect(message && message.source?.toString()).toContain('First over SMTP body');
    const uid = message ? message.uid : 0;

    expect(await client.search({ seen: false }, { uid: true })).toEqual([uid]);
    expect(await client.search({ subject: 'first over' }, { uid: true })).toEqual([uid]);
    await client.messageFlagsAdd(String(uid), ['\\Seen', '\\Flagged'], { uid: true });
    expect(await client.search({ seen: false }, { uid: true })).toEqual([]);
    const flagged = await client.fetchOne(String(uid), { flags: true }, { uid: true });
    // imapflow enables IMAP4rev2 (RFC 9051): its searches were answered with ESEARCH, and no message is \Recent.
    expect(client.enabled.has('IMAP4REV2')).toBe(true);
    expect(flagged && [...flagged.flags!].sort()).toEqual(['\\Flagged', '\\Seen']);

    const moved = await client.messageMove(String(uid), 'Archive', { uid: true });
    expect(moved && moved.uidMap?.get(uid)).toBeGreaterThan(0);
    expect(await messagesIn(client, 'Archive')).toBe(1);

    const raw = Buffer.from('From: alice@imap.test\r\nTo: bob@remote.test\r\nSubject: Saved copy\r\nMessage-ID: <saved@imap.test>\r\n\r\nhello\r\n');
    const appended = await client.append('Sent', raw, ['\\Seen']);
    const again = await client.append('Sent', raw, ['\\Seen']);
    expect(appended && appended.uid).toBeGreaterThan(0);
    expect(again && again.uid).toBe(appended && appended.uid);
    expect(await messagesIn(client, 'Sent')).toBe(1);
  });

  it('wakes an IDLE client with a message over SMTP and with a flag set elsewhere', async () => {
    const client = await imapflow();
    await client.mailboxOpen('INBOX');
    const before = await messagesIn(client, 'INBOX');
    const exists: number[] = [];
    const flags: Array<{ uid?: number; flags: Set<string> }> = [];
    client.on('exists', (data: { count: number }) => exists.push(data.count));
    client.on('flags', (data: { uid?: number; flags: Set<string> }) => flags.push(data));
    // imapflow IDLEs by itself while nothing else runs.
    void client.idle();
    await sendOverSmtp('Wake up', '<wake@remote.test>');
    await eventually(async () => exists.includes(before + 1), { timeoutMs: 15_000, describe: () => JSON.stringify(exists) });

    const row = await store.db.selectFrom('messages').select(['id', 'uid']).where('user_id', '=', alice).where('message_id_header', '=', '<wake@remote.test>').executeTakeFirstOrThrow();
    const publisher = new Redis(redis.url);
    try {
      await setFlags({ db: store.db, events: createRedisEventPublisher(publisher) }, alice, [row.id], { add: ['\\Answered'] });
    } finally {
      publisher.disconnect();
    }
    await eventually(async () => flags.some((f) => f.flags.has('\\Answered')), { timeoutMs: 15_000, describe: () => JSON.stringify(flags.map((f) => [...f.flags])) });
  });

  it('lets Python imaplib log in over STARTTLS and fetch', async () => {
    const script = [
      'import imaplib, ssl, sys',
      'ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE',
      `m = imaplib.IMAP4("127.0.0.1", ${ports.imap})`,
      'm.starttls(ssl_context=ctx)',
      'm.login("alice@imap.test", "alice password")',
      'typ, data = m.select("INBOX")',
      'typ, nums = m.search(None, "ALL")',
      'typ, msg = m.fetch(nums[0].split()[-1], "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")',
      'print(msg[0][1].decode().strip())',
      'm.logout()',
    ].join('\n');
    const result = await runCommand('python3', ['-c', script], { timeoutMs: 30_000 });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('Subject: Wake up');
  });
});
