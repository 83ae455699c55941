import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestMessage, summarizeMessage } from '@mailyard/core';
import { createTestBackend, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';

let t: TestBackend;
let kim: Agent;
let lou: Agent;

beforeAll(async () => {
  t = await createTestBackend();
  await t.accounts.addDomain('export.test');
  await t.accounts.addUser({ address: 'kim@export.test', password: 'kim password 1' });
  await t.accounts.addUser({ address: 'lou@export.test', password: 'lou password 1' });
  kim = await t.login('kim@export.test', 'kim password 1');
  lou = await t.login('lou@export.test', 'lou password 1');
  for (const n of [1, 2, 3]) {
    const raw = Buffer.from(`From: x${n}@far.test\r\nSubject: Kim's letter ${n}\r\nMessage-ID: <k${n}@far.test>\r\n\r\nFrom Kim's pen, number ${n}.\r\n`);
    await ingestMessage({ db: t.store.db, events: { publish: async () => undefined } }, { userId: kim.userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw), flags: n === 1 ? ['\\Seen'] : [] });
  }
});
afterAll(async () => {
  await t.close();
});

describe('GET /api/account/export', () => {
  it("downloads the user's own mail as an mbox, with folders and flags, and nobody else's", async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/account/export', headers: { cookie: kim.cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/mbox');
    expect(res.headers['content-disposition']).toBe('attachment; filename="mail-kim@export.test.mbox"');
    const body = res.body;
    expect(body.match(/^From \S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/gm)).toHaveLength(3);
    expect(body).toContain('X-Mailyard-Folder: INBOX\nStatus: RO\n');
    expect(body).toContain("\n>From Kim's pen, number 2.\n");

    const other = await t.app.inject({ method: 'GET', url: '/api/account/export', headers: { cookie: lou.cookie } });
    expect(other.statusCode).toBe(200);
    expect(other.body).toBe('');
  });

  it('exports one folder by name, answers 404 for a folder that does not exist, and 401 without a session', async () => {
    const inbox = await t.app.inject({ method: 'GET', url: '/api/account/export?mailbox=inbox', headers: { cookie: kim.cookie } });
    expect(inbox.body.match(/^From /gm)).toHaveLength(3);
    const sent = await t.app.inject({ method: 'GET', url: '/api/account/export?mailbox=Sent', headers: { cookie: kim.cookie } });
    expect(sent.statusCode).toBe(200);
    expect(sent.body).toBe('');
    const missing = await t.app.inject({ method: 'GET', url: '/api/account/export?mailbox=Nowhere', headers: { cookie: kim.cookie } });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'mailbox.not_found' } });
    expect((await t.app.inject({ method: 'GET', url: '/api/account/export' })).statusCode).toBe(401);
  });
});
