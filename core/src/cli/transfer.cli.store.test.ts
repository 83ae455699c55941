import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { ingestMessage } from '../mail/mailbox-writer/index.js';
import { summarizeMessage } from '../mail/parse.js';
import { exportMailboxes, type ExportCursor } from '../mail/transfer/export.js';
import { runCli } from './main.js';
import { TEST_SECRET_KEY, testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let dir: string;

async function cli(...argv: string[]): Promise<string[]> {
  const lines: string[] = [];
  expect(await runCli(argv, (line) => lines.push(line))).toBe(0);
  return lines;
}

beforeAll(async () => {
  store = await createTestStore();
  process.env.DATABASE_URL = store.url;
  process.env.SECRET_KEY = TEST_SECRET_KEY; // not DATA_DIR/secret.key under the checkout
  delete process.env.REDIS_URL;
  dir = mkdtempSync(join(tmpdir(), 'mailyard-cli-transfer-'));
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('mbox.test');
  const fay = await accounts.addUser({ address: 'fay@mbox.test', password: 'fay password 1' });
  await accounts.addUser({ address: 'gus@mbox.test', password: 'gus password 1' });
  for (let n = 1; n <= 120; n++) {
    const raw = Buffer.from(`From: p${n}@far.test\r\nSubject: Postcard ${n}\r\nMessage-ID: <p${n}@far.test>\r\n\r\nGreetings number ${n}.\r\n`);
    await ingestMessage({ db: store.db, events: { publish: async () => undefined } }, { userId: fay.id, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) });
  }
});
afterAll(async () => {
  delete process.env.DATABASE_URL;
  delete process.env.SECRET_KEY;
  await store?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mailyard export / import', () => {
  it('exports a mailbox to mbox and imports it into another user, twice without doubling', async () => {
    const file = join(dir, 'fay.mbox');
    expect(await cli('export', 'fay@mbox.test', file)).toEqual([`exported 120 messages from 6 folder(s) of fay@mbox.test to ${file}`]);
    expect(existsSync(`${file}.progress`)).toBe(false);
    await expect(runCli(['export', 'fay@mbox.test', file], () => undefined)).rejects.toThrow(/exists: remove it first/);
    expect(await cli('import', 'gus@mbox.test', file)).toEqual(['imported 120 messages into gus@mbox.test (0 already there, 120 read)']);
    expect(await cli('import', 'gus@mbox.test', file)).toEqual(['imported 0 messages into gus@mbox.test (120 already there, 120 read)']);
    await expect(runCli(['import', 'gus@mbox.test', join(dir, 'missing.mbox')], () => undefined)).rejects.toThrow(/does not exist/);
  });

  it('resumes an interrupted export from its progress file, cutting off what was written after the last checkpoint', async () => {
    const whole: Buffer[] = [];
    const cursors: ExportCursor[] = [];
    const fay = await createAccountsService({ db: store.db, secrets: testSecrets }).requireUser('fay@mbox.test');
    await exportMailboxes(store.db, fay.id, { write: async (entry, cursor) => void (whole.push(entry), cursors.push(cursor)) });
    // As an export killed after message 50 had been recorded and a part of message 51 written.
    const file = join(dir, 'interrupted.mbox');
    const kept = Buffer.concat(whole.slice(0, 50));
    writeFileSync(file, kept);
    appendFileSync(file, whole[50]!.subarray(0, 20));
    writeFileSync(`${file}.progress`, JSON.stringify({ address: 'fay@mbox.test', cursor: cursors[49], bytes: kept.length }));
    expect(await cli('export', 'fay@mbox.test', file, '--resume')).toEqual([`exported 70 messages more from 6 folder(s) of fay@mbox.test to ${file}`]);
    expect(readFileSync(file).equals(Buffer.concat(whole))).toBe(true);
    expect(existsSync(`${file}.progress`)).toBe(false);
    await expect(runCli(['export', 'fay@mbox.test', file, '--resume'], () => undefined)).rejects.toThrow(/nothing to resume/);
  });
});
