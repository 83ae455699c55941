import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { freePort } from '../../core/src/local/process-utils.js';
import { connectImap } from '../helpers/imap-transcript.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { eventually, runCommand, spawnService, type ServiceProcess } from '../helpers/services.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { testSecrets } from '../helpers/secrets.js';

/**
 * mbsync (Debian's isync) against the built imap-server over STARTTLS, trusting the server's
 * self-signed certificate through `CertificateFile`: a two-way sync between INBOX and a local
 * Maildir. Messages and flags from the server arrive in the Maildir; a flag changed and a message
 * added in the Maildir arrive on the server, with a flag set on the server in the same round;
 * nothing is lost or duplicated across repeated syncs.
 */

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let service: ServiceProcess;
let dataDir: string;
let work: string;
let port: number;
const ADDRESS = 'mia@mbsync.test';
const PASSWORD = 'mia password';

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('mbsync.test');
  await accounts.addUser({ address: ADDRESS, password: PASSWORD });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-mbsync-data-'));
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-mbsync-'));
  port = await freePort();
  service = spawnService('imap-server', {
    DATABASE_URL: store.url,
    REDIS_URL: redis.url,
    DATA_DIR: dataDir,
    MAIL_HOSTNAME: 'imap.mbsync.test',
    BIND_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'warn',
    IMAP_PORT: String(port),
    IMAPS_PORT: String(await freePort()),
  });
  await eventually(
    async () => {
      try {
        const c = await connectImap(port);
        const greeting = await c.greeting();
        c.close();
        return greeting.startsWith('* OK');
      } catch {
        return false;
      }
    },
    { timeoutMs: 30_000, describe: () => service.output() },
  );
});

afterAll(async () => {
  await service?.stop();
  await redis?.flush();
  await store?.drop();
  for (const dir of [dataDir, work]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function withClient<T>(run: (client: ImapFlow) => Promise<T>): Promise<T> {
  const client = new ImapFlow({ host: '127.0.0.1', port, secure: false, tls: { rejectUnauthorized: false }, auth: { user: ADDRESS, pass: PASSWORD }, logger: false });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.logout();
  }
}

function message(subject: string): Buffer {
  return Buffer.from(`From: Someone <someone@remote.test>\r\nTo: ${ADDRESS}\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@remote.test>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n\r\n${subject} body\r\n`);
}

function writeConfig(): string {
  const rc = path.join(work, 'mbsyncrc');
  fs.mkdirSync(path.join(work, 'mail'), { recursive: true });
  fs.writeFileSync(
    rc,
    [
      'IMAPAccount mailyard',
      'Host 127.0.0.1',
      `Port ${port}`,
      `User ${ADDRESS}`,
      `Pass "${PASSWORD}"`,
      'SSLType STARTTLS',
      `CertificateFile ${path.join(dataDir, 'tls', 'cert.pem')}`,
      'SystemCertificates no',
      '',
      'IMAPStore remote',
      'Account mailyard',
      '',
      'MaildirStore local',
      `Path ${path.join(work, 'mail')}/`,
      `Inbox ${path.join(work, 'mail', 'INBOX')}`,
      '',
      'Channel inbox',
      'Far :remote:',
      'Near :local:',
      'Patterns INBOX',
      'Create Both',
      'Expunge Both',
      'SyncState *',
      'Sync All',
      '',
    ].join('\n'),
  );
  return rc;
}

async function mbsync(rc: string): Promise<void> {
  const result = await runCommand('mbsync', ['-c', rc, 'inbox'], { timeoutMs: 60_000 });
  expect(result.code, `${result.stdout}\n${result.stderr}\n${service.output()}`).toBe(0);
}

/** The local INBOX: subject → Maildir flags (the letters after `:2,`). */
function localInbox(): Map<string, string> {
  const out = new Map<string, string>();
  for (const sub of ['cur', 'new']) {
    const dir = path.join(work, 'mail', 'INBOX', sub);
    for (const file of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const subject = /^Subject: (.*)$/m.exec(fs.readFileSync(path.join(dir, file), 'utf8'))?.[1]?.trim() ?? '?';
      out.set(subject, file.split(':2,')[1] ?? '');
    }
  }
  return out;
}

/** The server's INBOX: subject → sorted flags. */
function serverInbox(): Promise<Map<string, string[]>> {
  return withClient(async (client) => {
    const out = new Map<string, string[]>();
    await client.mailboxOpen('INBOX');
    for await (const m of client.fetch('1:*', { envelope: true, flags: true })) out.set(m.envelope?.subject ?? '?', [...(m.flags ?? [])].sort());
    return out;
  });
}

describe('mbsync against imap-server', () => {
  it('syncs INBOX both ways with a Maildir: messages and flags, with nothing lost', async () => {
    await withClient(async (client) => {
      await client.append('INBOX', message('Seen on the server'), ['\\Seen']);
      await client.append('INBOX', message('Flagged on the server'), ['\\Flagged']);
    });
    const rc = writeConfig();
    await mbsync(rc);
    expect(Object.fromEntries(localInbox())).toEqual({ 'Seen on the server': 'S', 'Flagged on the server': 'F' });

    // Locally: mark the flagged message read and add a message; on the server: answer the first.
    // (an unseen message may be in new/; read, it belongs in cur/)
    const inbox = path.join(work, 'mail', 'INBOX');
    const flagged = ['cur', 'new'].flatMap((sub) => fs.readdirSync(path.join(inbox, sub)).map((f) => path.join(sub, f))).find((f) => f.endsWith(':2,F'));
    expect(flagged).toBeDefined();
    fs.renameSync(path.join(inbox, flagged!), path.join(inbox, 'cur', path.basename(flagged!).replace(/:2,F$/, ':2,FS')));
    fs.writeFileSync(path.join(work, 'mail', 'INBOX', 'new', `${Date.now()}.mbsync-test.local`), message('Written locally').toString().replace(/\r\n/g, '\n'));
    await withClient(async (client) => {
      await client.mailboxOpen('INBOX');
      const uids = await client.search({ subject: 'Seen on the server' }, { uid: true });
      expect(uids).toHaveLength(1);
      await client.messageFlagsAdd(String(uids && uids[0]), ['\\Answered'], { uid: true });
    });
    await mbsync(rc);

    expect(Object.fromEntries(await serverInbox())).toEqual({
      'Seen on the server': ['\\Answered', '\\Seen'],
      'Flagged on the server': ['\\Flagged', '\\Seen'],
      'Written locally': [],
    });
    expect(Object.fromEntries(localInbox())).toEqual({ 'Seen on the server': 'RS', 'Flagged on the server': 'FS', 'Written locally': '' });

    // A further round changes nothing on either side.
    await mbsync(rc);
    expect((await serverInbox()).size).toBe(3);
    expect(Object.fromEntries(localInbox())).toEqual({ 'Seen on the server': 'RS', 'Flagged on the server': 'FS', 'Written locally': '' });
  });
});
