import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../../tests/helpers/store.js';
import { createAccountsService } from '../../accounts/accounts.service.js';
import { createMailboxRepository } from '../../repositories/mailbox.repository.js';
import { createMailbox, ingestMessage, setFlags } from '../mailbox-writer/index.js';
import { loadMessageBytes } from '../message-content.js';
import { summarizeMessage } from '../parse.js';
import { exportMailboxes } from './export.js';
import { importMessages, type ImportItem } from './import.js';
import { readMaildir } from './maildir.js';
import { readMbox } from './mbox.js';
import { testSecrets } from '../../../../tests/helpers/secrets.js';

let store: TestStore;
let dir: string;
let ann: number;
const deps = () => ({ db: store.db, events: { publish: async () => undefined } });
let userSeq = 0;

async function newUser(): Promise<number> {
  userSeq += 1;
  return (await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: `u${userSeq}@transfer.test`, password: 'a long password' })).id;
}

function message(n: number, extra = ''): Buffer {
  return Buffer.from(`From: Sender ${n} <s${n}@far.test>\r\nTo: ann@transfer.test\r\nSubject: Number ${n}\r\nMessage-ID: <n${n}@far.test>\r\n${extra}\r\nBody of message ${n}.\r\nFrom the bottom of my heart.\r\n`);
}

/** What a user's mailboxes hold, comparable across users: folder, subject, flags, date, bytes. */
async function contents(userId: number) {
  const boxes = await createMailboxRepository(store.db).list(userId);
  const out: Array<{ folder: string; subject: string; flags: string[]; date: string; bytes: string }> = [];
  for (const box of boxes) {
    const rows = await store.db.selectFrom('messages').select(['id', 'subject', 'flags', 'internal_date']).where('user_id', '=', userId).where('mailbox_id', '=', box.id).orderBy('uid').execute();
    for (const r of rows) out.push({ folder: box.specialUse === '\\Inbox' ? 'INBOX' : box.name, subject: r.subject, flags: [...r.flags].sort(), date: r.internal_date.toISOString(), bytes: (await loadMessageBytes(store.db, userId, r.id)).toString('latin1') });
  }
  return out.sort((a, b) => (a.folder + a.subject).localeCompare(b.folder + b.subject));
}

async function exportToBuffer(userId: number, mailbox?: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  await exportMailboxes(store.db, userId, { mailbox, write: async (entry) => void parts.push(entry) });
  return Buffer.concat(parts);
}

async function* fromMbox(file: Buffer): AsyncGenerator<ImportItem> {
  async function* one() {
    yield file;
  }
  for await (const m of readMbox(one())) yield { raw: m.raw, folder: null, flags: [], date: m.date };
}

beforeAll(async () => {
  store = await createTestStore();
  dir = mkdtempSync(join(tmpdir(), 'mailyard-transfer-'));
  await createAccountsService({ db: store.db, secrets: testSecrets }).addDomain('transfer.test');
  ann = await newUser();
  const work = await createMailbox(deps(), ann, 'Work/Projects');
  const inbox = [];
  for (let n = 1; n <= 3; n++) {
    const raw = message(n);
    inbox.push(await ingestMessage(deps(), { userId: ann, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw), internalDate: new Date(Date.UTC(2024, 0, n, 8)), traceHeaders: `Received: from far.test by mx.transfer.test; Mon, ${n} Jan 2024 08:00:00 +0000\r\n` }));
  }
  const raw4 = message(4);
  await ingestMessage(deps(), { userId: ann, mailbox: { id: work.id }, content: { raw: raw4 }, summary: await summarizeMessage(raw4), internalDate: new Date(Date.UTC(2023, 5, 1)), flags: ['\\Seen', 'project-x'] });
  await setFlags(deps(), ann, [inbox[0]!.messageId], { add: ['\\Seen', '\\Flagged'] });
  await setFlags(deps(), ann, [inbox[1]!.messageId], { add: ['\\Answered'] });
});

afterAll(async () => {
  await store?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mailbox export and import', () => {
  it('exports every folder to one mbox that imports into another account with the same folders, flags, dates and bytes', async () => {
    const file = await exportToBuffer(ann);
    expect(file.toString('latin1').match(/^From /gm)).toHaveLength(4);
    const bo = await newUser();
    const result = await importMessages(deps(), bo, fromMbox(file));
    expect(result).toEqual({ read: 4, imported: 4, skipped: 0 });
    expect(await contents(bo)).toEqual(await contents(ann));
  });

  it('adds nothing when the same file is imported again (an interrupted import resumes this way)', async () => {
    const file = await exportToBuffer(ann);
    const cy = await newUser();
    // The first import stops after two messages.
    let taken = 0;
    async function* firstTwo() {
      for await (const item of fromMbox(file)) if (taken++ < 2) yield item;
    }
    expect(await importMessages(deps(), cy, firstTwo())).toMatchObject({ imported: 2 });
    const progress: number[] = [];
    expect(await importMessages(deps(), cy, fromMbox(file), { batchSize: 1, onProgress: (p) => progress.push(p.read) })).toEqual({ read: 4, imported: 2, skipped: 2 });
    expect(progress).toEqual([1, 2, 3, 4]);
    expect(await importMessages(deps(), cy, fromMbox(file))).toEqual({ read: 4, imported: 0, skipped: 4 });
    expect(await contents(cy)).toEqual(await contents(ann));
  });

  it('exports one folder, and imports everything into a chosen folder', async () => {
    const file = await exportToBuffer(ann, 'Work/Projects');
    expect(file.toString('latin1').match(/^From /gm)).toHaveLength(1);
    await expect(exportToBuffer(ann, 'Nope')).rejects.toThrow(/no folder "Nope"/);
    const dee = await newUser();
    await importMessages(deps(), dee, fromMbox(await exportToBuffer(ann)), { mailbox: 'Old mail' });
    const got = await contents(dee);
    expect(got.map((m) => m.folder)).toEqual(['Old mail', 'Old mail', 'Old mail', 'Old mail']);
  });

  it('imports a Maildir++ tree: INBOX and subfolders, flags from file names, new mail unseen, dates from the files', async () => {
    const root = join(dir, 'Maildir');
    for (const sub of ['', '.Work.Projects', '.Sent']) for (const part of ['cur', 'new', 'tmp']) mkdirSync(join(root, sub, part), { recursive: true });
    const put = (path: string, raw: Buffer, when: Date) => {
      writeFileSync(join(root, path), raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
      utimesSync(join(root, path), when, when);
    };
    put('cur/1700000000.M1P1.host:2,FS', message(11), new Date(Date.UTC(2023, 10, 14)));
    put('new/1700000001.M2P1.host', message(12), new Date(Date.UTC(2023, 10, 15)));
    put('.Work.Projects/cur/1700000002.M3P1.host:2,RS', message(13), new Date(Date.UTC(2023, 10, 16)));
    put('.Sent/cur/1700000003.M4P1.host:2,S', message(14), new Date(Date.UTC(2023, 10, 17)));
    put('tmp/1700000004.M5P1.host', message(15), new Date());
    const eve = await newUser();
    expect(await importMessages(deps(), eve, readMaildir(root))).toEqual({ read: 4, imported: 4, skipped: 0 });
    const got = await contents(eve);
    expect(got.map((m) => [m.folder, m.subject, m.flags, m.date])).toEqual([
      ['INBOX', 'Number 11', ['\\Flagged', '\\Seen'], '2023-11-14T00:00:00.000Z'],
      ['INBOX', 'Number 12', [], '2023-11-15T00:00:00.000Z'],
      ['Sent', 'Number 14', ['\\Seen'], '2023-11-17T00:00:00.000Z'],
      ['Work/Projects', 'Number 13', ['\\Answered', '\\Seen'], '2023-11-16T00:00:00.000Z'],
    ]);
    expect(got[0]!.bytes).toBe(message(11).toString('latin1'));
    // The Maildir's Sent is the user's Sent folder, not a second one.
    expect((await createMailboxRepository(store.db).list(eve)).filter((b) => b.name === 'Sent')).toHaveLength(1);
    expect(await importMessages(deps(), eve, readMaildir(root))).toMatchObject({ imported: 0, skipped: 4 });
  });
});
