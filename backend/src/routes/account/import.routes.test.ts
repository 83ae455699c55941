import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailbox, createUserRepository, ingestMessage, summarizeMessage } from '@mailyard/core';
import type { MailboxListResponse, MessageListResponse } from '@mailyard/core/contracts';
import { createTestBackend, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';

const MAX_BYTES = 64 * 1024;

let t: TestBackend;
let seq = 0;

/** A new signed-in user of import.test. */
async function newUser(): Promise<Agent> {
  const address = `u${++seq}@import.test`;
  await t.accounts.addUser({ address, password: 'a long password' });
  return t.login(address, 'a long password');
}

function letter(n: number, extra = ''): Buffer {
  return Buffer.from(`From: far${n}@far.test\r\nSubject: Letter ${n}\r\nMessage-ID: <l${n}.${seq}@far.test>\r\nDate: Sat, 05 Dec 2026 10:00:00 +0000\r\n\r\nFrom the far side, number ${n}.${extra}\r\n`);
}

/** A plain mbox (no folder or flag fields) of `count` letters. */
function plainMbox(count: number, extra = ''): Buffer {
  const entries = Array.from({ length: count }, (_, i) => `From far${i}@far.test Sat Dec  5 10:00:00 2026\n${letter(i, extra).toString().replace(/\r\n/g, '\n').replace(/^From the/m, '>From the')}\n`);
  return Buffer.from(entries.join(''));
}

function importMbox(agent: Agent | null, payload: Buffer | Readable | string, options: { query?: string; contentType?: string } = {}) {
  return t.app.inject({
    method: 'POST',
    url: `/api/account/import${options.query ?? ''}`,
    headers: { ...(agent?.headers ?? {}), 'content-type': options.contentType ?? 'application/mbox' },
    payload,
  });
}

/** Every folder with its messages as (subject, unread, starred), sorted: what an import must carry over. */
async function mailOf(agent: Agent): Promise<Record<string, string[]>> {
  const { mailboxes } = (await t.app.inject({ method: 'GET', url: '/api/mailboxes', headers: agent.headers })).json<MailboxListResponse>();
  const out: Record<string, string[]> = {};
  for (const box of mailboxes) {
    const { messages } = (await t.app.inject({ method: 'GET', url: `/api/mailboxes/${box.id}/messages?limit=200`, headers: agent.headers })).json<MessageListResponse>();
    if (messages.length > 0) out[box.name] = messages.map((m) => `${m.subject}${m.unread ? '' : ' (read)'}${m.starred ? ' (starred)' : ''}`).sort();
  }
  return out;
}

/** POSTs `chunks` without a length (chunked) over a real connection, without ending the body; resolves with the answer. */
async function postChunked(agent: Agent, chunks: Buffer[]): Promise<{ status: number; connection: string | undefined; body: string }> {
  if (!t.app.server.listening) await t.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = t.app.server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/account/import', headers: { ...agent.headers, 'content-type': 'application/mbox' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => (body += text));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body });
        req.destroy();
      });
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
  });
}

const countOf = async (agent: Agent) => Object.values(await mailOf(agent)).flat().length;

beforeAll(async () => {
  t = await createTestBackend({ importMaxBytes: MAX_BYTES });
  await t.accounts.addDomain('import.test');
});
afterAll(async () => {
  await t.close();
});

describe('POST /api/account/import', () => {
  it("imports another user's export with its folders, read and starred marks, and nothing twice", async () => {
    const kim = await newUser();
    const deps = { db: t.store.db, events: { publish: async () => undefined } };
    const projects = await createMailbox(deps, kim.userId, 'Projects/2026');
    for (const n of [1, 2, 3]) {
      const raw = letter(n);
      await ingestMessage(deps, { userId: kim.userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw), flags: n === 1 ? ['\\Seen'] : [] });
    }
    for (const n of [4, 5]) {
      const raw = letter(n);
      await ingestMessage(deps, { userId: kim.userId, mailbox: { id: projects.id }, content: { raw }, summary: await summarizeMessage(raw), flags: n === 4 ? ['\\Flagged', '\\Seen'] : [] });
    }
    const kimMail = await mailOf(kim);
    expect(Object.keys(kimMail).sort()).toEqual(['INBOX', 'Projects/2026']);
    const exported = await t.app.inject({ method: 'GET', url: '/api/account/export', headers: { cookie: kim.cookie } });
    expect(exported.statusCode).toBe(200);

    const lou = await newUser();
    const first = await importMbox(lou, exported.rawPayload);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toEqual({ read: 5, imported: 5, skipped: 0 });
    expect(await mailOf(lou)).toEqual(kimMail);

    const again = await importMbox(lou, exported.rawPayload, { contentType: 'application/octet-stream' });
    expect(again.json()).toEqual({ read: 5, imported: 0, skipped: 5 });
    expect(await mailOf(lou)).toEqual(kimMail);
    // Kim's own mail is as it was.
    expect(await mailOf(kim)).toEqual(kimMail);
  });

  it('files a plain mbox into the folder ?mailbox= names, made when missing', async () => {
    const ann = await newUser();
    const res = await importMbox(ann, plainMbox(3), { query: '?mailbox=Old%20mail', contentType: 'application/octet-stream' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ read: 3, imported: 3, skipped: 0 });
    expect(await mailOf(ann)).toEqual({ 'Old mail': ['Letter 0', 'Letter 1', 'Letter 2'] });
  });

  it('refuses a file over IMPORT_MAX_BYTES with 413 import.too_large, by its length before reading it', async () => {
    const bob = await newUser();
    const big = plainMbox(1, 'x'.repeat(MAX_BYTES));
    const res = await importMbox(bob, big);
    expect(res.statusCode).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(res.json()).toMatchObject({ error: { code: 'import.too_large' } });
    expect(await countOf(bob)).toBe(0);
  });

  it('stops a body without a length once it passes the limit, keeping only whole messages filed before', async () => {
    const cid = await newUser();
    // 150 letters of ~590 bytes in 1 KiB chunks: the first batch of 100 is filed, the limit falls in the second.
    const file = plainMbox(150, ' '.repeat(400));
    expect(file.length).toBeGreaterThan(MAX_BYTES);
    expect(file.indexOf('\n\nFrom far100@') + 64).toBeLessThan(MAX_BYTES);
    const chunks = Array.from({ length: Math.ceil(file.length / 1024) }, (_, i) => file.subarray(i * 1024, (i + 1) * 1024));
    // Over a real socket, chunked, and never ended: the answer must reach a client still sending.
    const res = await postChunked(cid, chunks);
    expect(res.status).toBe(413);
    // The rest of the body is not read and thrown away: the connection closes after the answer.
    expect(res.connection).toBe('close');
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'import.too_large' } });
    const stored = await mailOf(cid);
    expect(stored).toEqual({ INBOX: Array.from({ length: 100 }, (_, i) => `Letter ${i}`).sort() });
  });

  it('answers 400 import.invalid for a body that is not an mbox, and files nothing', async () => {
    const dee = await newUser();
    for (const payload of ['Subject: just a message\r\n\r\nhello\r\n', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])]) {
      const res = await importMbox(dee, payload);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'import.invalid', message: expect.stringMatching(/not an mbox file/) } });
    }
    const json = await t.app.inject({ method: 'POST', url: '/api/account/import', headers: dee.headers, payload: { mbox: 'From x' } });
    expect(json.statusCode).toBe(400);
    expect(json.json()).toMatchObject({ error: { code: 'import.invalid' } });
    expect(await countOf(dee)).toBe(0);
  });

  it('stops at the quota with 413 quota.exceeded, keeping the batches filed before and no part of the one that did not fit', async () => {
    const eve = await newUser();
    // 150 letters of ~140 bytes: the first batch of 100 (~14 KB) fits, the next 50 (~7 KB) do not.
    await createUserRepository(t.store.db).updateSettings(eve.userId, { quotaBytes: 17_000 });
    const res = await importMbox(eve, plainMbox(150));
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: { code: 'quota.exceeded', message: expect.stringMatching(/Messages imported before that stay \(100\)/) } });
    expect(await mailOf(eve)).toEqual({ INBOX: Array.from({ length: 100 }, (_, i) => `Letter ${i}`).sort() });
    const usage = (await t.app.inject({ method: 'GET', url: '/api/account/usage', headers: eve.headers })).json<{ usedBytes: number }>();
    expect(usage.usedBytes).toBeLessThanOrEqual(17_000);
  });

  it('runs one import per user at a time: a second one meanwhile gets 409 import.in_progress', async () => {
    const fay = await newUser();
    const gus = await newUser();
    const body = new PassThrough();
    const running = importMbox(fay, body);
    body.write(plainMbox(2));
    await expect.poll(() => t.redis.exists(`import:lock:${fay.userId}`), { timeout: 10_000 }).toBe(1);

    const second = await importMbox(fay, plainMbox(1));
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({ error: { code: 'import.in_progress' } });
    // Another user's import is not held up.
    expect((await importMbox(gus, plainMbox(1))).statusCode).toBe(200);

    body.end();
    const first = await running;
    expect(first.json()).toEqual({ read: 2, imported: 2, skipped: 0 });
    expect(await t.redis.exists(`import:lock:${fay.userId}`)).toBe(0);
    expect((await importMbox(fay, plainMbox(3))).json()).toEqual({ read: 3, imported: 1, skipped: 2 });
  });

  it('needs a session and the CSRF header', async () => {
    expect((await importMbox(null, plainMbox(1))).statusCode).toBe(401);
    const hal = await newUser();
    const res = await t.app.inject({ method: 'POST', url: '/api/account/import', headers: { cookie: hal.cookie, 'content-type': 'application/mbox' }, payload: plainMbox(1) });
    expect(res.statusCode).toBe(403);
    expect(await countOf(hal)).toBe(0);
  });
});
