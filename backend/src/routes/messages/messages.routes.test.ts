import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { ingestMessage } from '../../../../core/src/mail/mailbox-writer/index.js';
import { summarizeMessage } from '../../../../core/src/mail/parse.js';

let t: TestBackend;
let ann: Agent;
let ben: Agent;
let annInbox: number;
const annMessages: number[] = [];

async function deliver(userId: number, raw: string, internalDate: Date) {
  const buf = Buffer.from(raw.replace(/\n/g, '\r\n'));
  return ingestMessage({ db: t.store.db, events: { publish: async () => undefined } }, { userId, mailbox: { specialUse: '\\Inbox' }, content: { raw: buf }, summary: await summarizeMessage(buf), internalDate, traceHeaders: 'Received: from test\r\n' });
}

beforeAll(async () => {
  t = await createTestBackend();
  ({ ann, ben } = await signInTwoUsers(t));
  // 25 messages, several sharing the same date (ties), to page through.
  const base = Date.UTC(2026, 10, 1, 12);
  for (let i = 0; i < 25; i++) {
    const r = await deliver(ann.userId, `From: Sam <sam@far.test>\nTo: ann@m.test\nSubject: Note ${i}\nMessage-ID: <n${i}@far.test>\n\nbody ${i}\n`, new Date(base + Math.floor(i / 3) * 1000));
    annMessages.push(r.messageId);
    annInbox = r.mailboxId;
  }
});
afterAll(async () => {
  await t.close();
});

describe('GET /api/mailboxes', () => {
  it('lists the user\'s folders with total and unread counts', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/mailboxes', headers: { cookie: ann.cookie } });
    expect(res.statusCode).toBe(200);
    const inbox = res.json().mailboxes.find((m: { specialUse: string }) => m.specialUse === '\\Inbox');
    expect(inbox).toMatchObject({ id: annInbox, name: 'INBOX', total: 25, unread: 25 });
  });
});

describe('GET /api/mailboxes/:id/messages', () => {
  it('pages newest first with a cursor that neither skips nor repeats across equal dates', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/mailboxes/${annInbox}/messages?limit=4${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await t.app.inject({ method: 'GET', url, headers: { cookie: ann.cookie } });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { messages: Array<{ id: number; date: string }>; nextCursor: string | null };
      seen.push(...body.messages.map((m) => m.id));
      cursor = body.nextCursor;
      pages++;
      // New mail arriving mid-pagination lands on page one, not inside the pages still to come.
      if (pages === 2) await deliver(ann.userId, 'Subject: late\n\nlate\n', new Date());
    } while (cursor);
    expect(pages).toBe(7);
    expect(seen).toHaveLength(25);
    expect(new Set(seen)).toEqual(new Set(annMessages));
  });

  it('rejects a forged cursor and a bad limit with 400', async () => {
    const forged = await t.app.inject({ method: 'GET', url: `/api/mailboxes/${annInbox}/messages?cursor=!!!`, headers: { cookie: ann.cookie } });
    expect(forged.statusCode).toBe(400);
    const limit = await t.app.inject({ method: 'GET', url: `/api/mailboxes/${annInbox}/messages?limit=0`, headers: { cookie: ann.cookie } });
    expect(limit.statusCode).toBe(400);
    expect(limit.json().error.code).toBe('request.invalid');
  });
});

describe('GET /api/messages/:id and /raw', () => {
  it('shows the members of an RFC 5322 group as addresses and a group without members by its name, in the same shape', async () => {
    const { messageId } = await deliver(ben.userId, 'From: Sam <sam@far.test>\nTo: crew: ben@m.test, Cat <cat@m.test>;\nCc: undisclosed-recipients:;\nSubject: Group\n\nhi\n', new Date());
    const res = await t.app.inject({ method: 'GET', url: `/api/messages/${messageId}`, headers: { cookie: ben.cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.json().to).toEqual([
      { name: '', address: 'ben@m.test' },
      { name: 'Cat', address: 'cat@m.test' },
    ]);
    expect(res.json().cc).toEqual([{ name: 'undisclosed-recipients', address: '' }]);
  });

  it('returns the message with text and the .eml with trace headers first', async () => {
    const id = annMessages[0]!;
    const res = await t.app.inject({ method: 'GET', url: `/api/messages/${id}`, headers: { cookie: ann.cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, subject: 'Note 0', from: [{ name: 'Sam', address: 'sam@far.test' }], text: 'body 0\n', html: null, unread: true });
    const raw = await t.app.inject({ method: 'GET', url: `/api/messages/${id}/raw`, headers: { cookie: ann.cookie } });
    expect(raw.statusCode).toBe(200);
    expect(raw.headers['content-type']).toBe('message/rfc822');
    expect(raw.body.startsWith('Received: from test\r\nFrom: Sam <sam@far.test>')).toBe(true);
  });

  it('sanitizes HTML mail and blocks remote images unless asked', async () => {
    const html = [
      'From: x@far.test', 'Subject: html', 'MIME-Version: 1.0', 'Content-Type: text/html; charset=utf-8', '',
      '<p onclick="steal()">Hi <script>alert(1)</script><img src="https://tracker.test/p.gif"><a href="javascript:alert(1)">x</a><form action="https://evil.test"><input name=a></form><iframe src="https://evil.test"></iframe><div style="background:url(https://t.test/x)">y</div></p>',
    ].join('\n');
    const r = await deliver(ann.userId, html, new Date());
    const res = await t.app.inject({ method: 'GET', url: `/api/messages/${r.messageId}`, headers: { cookie: ann.cookie } });
    const body = res.json() as { html: string; hasRemoteContent: boolean };
    expect(body.hasRemoteContent).toBe(true);
    for (const bad of ['<script', 'onclick', 'javascript:', '<form', '<input', '<iframe', 'tracker.test', 'url(']) expect(body.html).not.toContain(bad);
    expect(body.html).toContain('Hi ');
    const allowed = await t.app.inject({ method: 'GET', url: `/api/messages/${r.messageId}?remoteImages=1`, headers: { cookie: ann.cookie } });
    expect(allowed.json().html).toContain('https://tracker.test/p.gif');
  });
});

describe('access control', () => {
  it('gives another user 404 for this user\'s message, raw message and mailbox', async () => {
    const id = annMessages[0]!;
    for (const url of [`/api/messages/${id}`, `/api/messages/${id}/raw`, `/api/mailboxes/${annInbox}/messages`]) {
      const res = await t.app.inject({ method: 'GET', url, headers: { cookie: ben.cookie } });
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain('Note 0');
    }
  });
  it('gives an anonymous request 401 on every mail route', async () => {
    for (const url of ['/api/mailboxes', `/api/mailboxes/${annInbox}/messages`, `/api/messages/${annMessages[0]}`, `/api/messages/${annMessages[0]}/raw`]) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode, url).toBe(401);
    }
  });
});
