import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { ingestMessage } from './mailbox-writer/index.js';
import { loadMessageBytes, loadMessagePart } from './message-content.js';
import { summarizeMessage } from './parse.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let annId: number;
let benId: number;
let messageId: number;
let size: number;
const TRACE = 'Received: from mx.test\r\n\tby mail.c.test;\r\n\tFri, 1 May 2026 12:00:00 +0000\r\n';
const PDF = Buffer.from('%PDF-1.4 not really a pdf\n');
const RAW = Buffer.from(
  [
    'From: sam@far.test',
    'To: ann@c.test',
    'Subject: report',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain',
    '',
    'see attached',
    '--b1',
    'Content-Type: application/pdf; name="report.pdf"',
    'Content-Disposition: attachment; filename="report.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    PDF.toString('base64'),
    '--b1--',
    '',
  ].join('\r\n'),
);

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('c.test');
  annId = (await accounts.addUser({ address: 'ann@c.test', password: 'ann password' })).id;
  benId = (await accounts.addUser({ address: 'ben@c.test', password: 'ben password' })).id;
  const filed = await ingestMessage(
    { db: store.db, events: { publish: async () => undefined } },
    { userId: annId, mailbox: { specialUse: '\\Inbox' }, content: { raw: RAW }, summary: await summarizeMessage(RAW), internalDate: new Date(), traceHeaders: TRACE },
  );
  messageId = filed.messageId;
  size = (await store.db.selectFrom('messages').select('size').where('id', '=', messageId).executeTakeFirstOrThrow()).size;
});
afterAll(async () => {
  await store?.drop();
});

describe('loadMessageBytes', () => {
  it("is this server's trace headers, then the bytes as received: as long as the stored size", async () => {
    const bytes = await loadMessageBytes(store.db, annId, messageId);
    expect(bytes.toString()).toBe(TRACE + RAW.toString());
    expect(bytes.length).toBe(size);
  });

  it("does not return another user's message (404 message.not_found, as for one that does not exist)", async () => {
    await expect(loadMessageBytes(store.db, benId, messageId)).rejects.toMatchObject({ code: 'message.not_found', status: 404 });
    await expect(loadMessageBytes(store.db, annId, messageId + 1000)).rejects.toMatchObject({ code: 'message.not_found', status: 404 });
  });
});

describe('loadMessagePart', () => {
  it('returns one attachment, decoded, with its name and type', async () => {
    expect(await loadMessagePart(store.db, annId, messageId, 0)).toEqual({ filename: 'report.pdf', contentType: 'application/pdf', content: PDF });
  });

  it("answers 404 attachment.not_found past the last attachment, and 404 message.not_found for another user's message", async () => {
    await expect(loadMessagePart(store.db, annId, messageId, 1)).rejects.toMatchObject({ code: 'attachment.not_found', status: 404 });
    await expect(loadMessagePart(store.db, benId, messageId, 0)).rejects.toMatchObject({ code: 'message.not_found', status: 404 });
  });
});
