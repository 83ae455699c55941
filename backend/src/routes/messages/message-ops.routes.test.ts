import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { ingestMessage } from '../../../../core/src/mail/mailbox-writer/index.js';
import { summarizeMessage } from '../../../../core/src/mail/parse.js';
import type { SpecialUse } from '../../../../core/src/db/schema.js';

let t: TestBackend;
let ann: Agent;
let ben: Agent;
let seq = 0;

const PDF = Buffer.from('%PDF-1.4\n% not really a pdf, but bytes to compare\n\u0000\u0001\u0002\n');

async function deliver(userId: number, opts: { mailbox?: SpecialUse; raw?: string; flags?: string[]; date?: Date } = {}) {
  seq++;
  const text = opts.raw ?? `From: Sam <sam@far.test>\nTo: someone@m.test\nSubject: Note ${seq}\nMessage-ID: <n${seq}@far.test>\n\nbody ${seq}\n`;
  const buf = Buffer.from(text.replace(/\r?\n/g, '\r\n'));
  return ingestMessage(
    { db: t.store.db, events: { publish: async () => undefined } },
    { userId, mailbox: { specialUse: opts.mailbox ?? '\\Inbox' }, content: { raw: buf }, summary: await summarizeMessage(buf), flags: opts.flags, internalDate: opts.date },
  );
}

async function mailboxes(agent: Agent): Promise<Array<{ id: number; name: string; specialUse: string | null; total: number; unread: number }>> {
  const res = await t.app.inject({ method: 'GET', url: '/api/mailboxes', headers: { cookie: agent.cookie } });
  expect(res.statusCode).toBe(200);
  return res.json().mailboxes;
}
async function mailboxId(agent: Agent, specialUse: string): Promise<number> {
  return (await mailboxes(agent)).find((m) => m.specialUse === specialUse)!.id;
}

function post(agent: Agent, url: string, payload?: object) {
  return t.app.inject({ method: 'POST', url, headers: agent.headers, ...(payload ? { payload } : {}) });
}

async function messageMailbox(id: number): Promise<number | undefined> {
  return (await t.store.db.selectFrom('messages').select('mailbox_id').where('id', '=', id).executeTakeFirst())?.mailbox_id;
}

/** Everything a user owns, to show a refused call changed nothing. */
async function snapshot(userId: number) {
  const db = t.store.db;
  return {
    user: await db.selectFrom('users').select('modseq').where('id', '=', userId).executeTakeFirstOrThrow(),
    mailboxes: await db.selectFrom('mailboxes').selectAll().where('user_id', '=', userId).orderBy('id').execute(),
    messages: await db.selectFrom('messages').select(['id', 'mailbox_id', 'uid', 'modseq', 'flags', 'moved_at']).where('user_id', '=', userId).orderBy('id').execute(),
  };
}

function expectError(res: { statusCode: number; json(): unknown }, status: number, code: string) {
  expect(res.statusCode).toBe(status);
  const body = res.json() as { error: { code: string; message: string }; requestId: string };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(typeof body.requestId).toBe('string');
}

const attachmentMail = (filenameParam: string) =>
  [
    'From: Sam <sam@far.test>',
    'To: ann@m.test',
    'Subject: Report',
    `Message-ID: <report${++seq}@far.test>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain',
    '',
    'see attached',
    '--b1',
    'Content-Type: application/pdf',
    `Content-Disposition: attachment; ${filenameParam}`,
    'Content-Transfer-Encoding: base64',
    '',
    PDF.toString('base64'),
    '--b1--',
    '',
  ].join('\n');

beforeAll(async () => {
  t = await createTestBackend();
  ({ ann, ben } = await signInTwoUsers(t));
});
afterAll(async () => {
  await t.close();
});

describe('POST /api/messages/flags', () => {
  it('marks read/unread and starred, updating the folder\'s unread count', async () => {
    const a = await deliver(ann.userId);
    const b = await deliver(ann.userId);
    const unreadBefore = (await mailboxes(ann)).find((m) => m.specialUse === '\\Inbox')!.unread;
    const res = await post(ann, '/api/messages/flags', { ids: [b.messageId, a.messageId], read: true, starred: true });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      messages: [
        { id: a.messageId, mailboxId: a.mailboxId, unread: false, starred: true },
        { id: b.messageId, mailboxId: b.mailboxId, unread: false, starred: true },
      ],
    });
    expect((await mailboxes(ann)).find((m) => m.specialUse === '\\Inbox')!.unread).toBe(unreadBefore - 2);
    const back = await post(ann, '/api/messages/flags', { ids: [a.messageId], read: false });
    expect(back.json().messages).toEqual([{ id: a.messageId, mailboxId: a.mailboxId, unread: true, starred: true }]);
  });

  it('publishes message.flags and mailbox.counts on the user\'s Redis channel', async () => {
    const a = await deliver(ann.userId);
    const sub = new Redis(t.redisUrl);
    try {
      await sub.subscribe(`user:${ann.userId}`);
      const received: Array<{ type: string }> = [];
      const both = new Promise<void>((resolve) => {
        sub.on('message', (_channel, message: string) => {
          received.push(JSON.parse(message));
          if (received.some((e) => e.type === 'mailbox.counts')) resolve();
        });
      });
      expect((await post(ann, '/api/messages/flags', { ids: [a.messageId], starred: true })).statusCode).toBe(200);
      await both;
      expect(received[0]).toMatchObject({ type: 'message.flags', messageId: a.messageId, flags: ['\\Flagged'] });
      expect(received[1]).toMatchObject({ type: 'mailbox.counts', mailboxId: a.mailboxId });
    } finally {
      sub.disconnect();
    }
  });

  it('answers 400 with an error body for bad input, changing nothing', async () => {
    const a = await deliver(ann.userId);
    const before = await snapshot(ann.userId);
    const bad: unknown[] = [
      undefined,
      {},
      { ids: [], read: true },
      { ids: Array.from({ length: 1001 }, (_, i) => i + 1), read: true },
      { ids: [a.messageId] },
      { ids: [a.messageId], read: 'yes' },
      { ids: [1.5], read: true },
      { ids: [-1], read: true },
      { ids: ['1'], read: true },
      { ids: a.messageId, read: true },
    ];
    for (const payload of bad) {
      const res = await t.app.inject({ method: 'POST', url: '/api/messages/flags', headers: { ...ann.headers, 'content-type': 'application/json' }, payload: payload === undefined ? '' : JSON.stringify(payload) });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.code, JSON.stringify(payload)).toMatch(/^request\./);
      expect(typeof res.json().requestId).toBe('string');
    }
    expect(await snapshot(ann.userId)).toEqual(before);
  });
});

describe('moving messages', () => {
  it('moves to a folder by id, to Archive and to Trash, and restores from Trash to INBOX', async () => {
    const a = await deliver(ann.userId);
    const b = await deliver(ann.userId, { flags: ['\\Seen'] });
    const created = await post(ann, '/api/mailboxes', { name: 'Receipts' });
    expect(created.statusCode).toBe(201);
    const receipts = created.json().id as number;

    const moved = await post(ann, '/api/messages/move', { ids: [a.messageId, b.messageId], mailboxId: receipts });
    expect(moved.statusCode).toBe(200);
    expect(moved.json().messages).toEqual([
      { id: a.messageId, mailboxId: receipts, unread: true, starred: false },
      { id: b.messageId, mailboxId: receipts, unread: false, starred: false },
    ]);
    expect((await mailboxes(ann)).find((m) => m.id === receipts)).toMatchObject({ total: 2, unread: 1 });

    const archive = await mailboxId(ann, '\\Archive');
    const trash = await mailboxId(ann, '\\Trash');
    const inbox = await mailboxId(ann, '\\Inbox');
    expect((await post(ann, '/api/messages/archive', { ids: [a.messageId] })).json().messages[0].mailboxId).toBe(archive);
    expect((await post(ann, '/api/messages/trash', { ids: [a.messageId, b.messageId] })).json().messages.map((m: { mailboxId: number }) => m.mailboxId)).toEqual([trash, trash]);
    const restored = await post(ann, '/api/messages/restore', { ids: [a.messageId, b.messageId] });
    expect(restored.statusCode).toBe(200);
    expect(await messageMailbox(a.messageId)).toBe(inbox);
    expect(await messageMailbox(b.messageId)).toBe(inbox);
  });

  it('restores only messages that are in Trash (409 message.not_in_trash), changing nothing', async () => {
    const inTrash = await deliver(ann.userId, { mailbox: '\\Trash' });
    const inInbox = await deliver(ann.userId);
    const before = await snapshot(ann.userId);
    expectError(await post(ann, '/api/messages/restore', { ids: [inTrash.messageId, inInbox.messageId] }), 409, 'message.not_in_trash');
    expect(await snapshot(ann.userId)).toEqual(before);
  });

  it('answers 404 for a target mailbox that does not exist and 400 for a bad one', async () => {
    const a = await deliver(ann.userId);
    expectError(await post(ann, '/api/messages/move', { ids: [a.messageId], mailboxId: 987_654_321 }), 404, 'mailbox.not_found');
    expectError(await post(ann, '/api/messages/move', { ids: [a.messageId], mailboxId: 'INBOX' }), 400, 'request.invalid');
    expectError(await post(ann, '/api/messages/move', { ids: [a.messageId] }), 400, 'request.invalid');
    expectError(await post(ann, '/api/messages/archive', { ids: [] }), 400, 'request.invalid');
    expect(await messageMailbox(a.messageId)).toBe(a.mailboxId);
  });
});

describe('POST /api/messages/delete', () => {
  it('deletes forever only from Trash or Junk', async () => {
    const trashed = await deliver(ann.userId, { mailbox: '\\Trash' });
    const junk = await deliver(ann.userId, { mailbox: '\\Junk' });
    const inbox = await deliver(ann.userId);
    const before = await snapshot(ann.userId);
    expectError(await post(ann, '/api/messages/delete', { ids: [trashed.messageId, inbox.messageId] }), 409, 'message.not_in_trash');
    expect(await snapshot(ann.userId)).toEqual(before);

    const res = await post(ann, '/api/messages/delete', { ids: [trashed.messageId, junk.messageId] });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ deleted: 2 });
    expect((await t.app.inject({ method: 'GET', url: `/api/messages/${trashed.messageId}`, headers: { cookie: ann.cookie } })).statusCode).toBe(404);
    expect(await messageMailbox(inbox.messageId)).toBe(inbox.mailboxId);
  });
});

describe('mailbox routes', () => {
  it('creates, renames and deletes a custom folder; deleting it deletes its messages', async () => {
    const created = await post(ann, '/api/mailboxes', { name: 'Travel' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: 'Travel', specialUse: null, total: 0, unread: 0 });
    const id = created.json().id as number;
    const m = await deliver(ann.userId);
    await post(ann, '/api/messages/move', { ids: [m.messageId], mailboxId: id });

    const renamed = await t.app.inject({ method: 'PATCH', url: `/api/mailboxes/${id}`, headers: ann.headers, payload: { name: 'Trips' } });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ id, name: 'Trips', total: 1 });

    const deleted = await t.app.inject({ method: 'DELETE', url: `/api/mailboxes/${id}`, headers: ann.headers });
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual({ deletedMessages: 1 });
    expect(await messageMailbox(m.messageId)).toBeUndefined();
    expect((await mailboxes(ann)).some((b) => b.id === id)).toBe(false);
  });

  it('protects system folders (403), rejects bad names (400) and duplicates (409), changing nothing', async () => {
    await post(ann, '/api/mailboxes', { name: 'Keep' });
    const inbox = await mailboxId(ann, '\\Inbox');
    const sent = await mailboxId(ann, '\\Sent');
    const before = await snapshot(ann.userId);
    expectError(await t.app.inject({ method: 'PATCH', url: `/api/mailboxes/${inbox}`, headers: ann.headers, payload: { name: 'Renamed' } }), 403, 'mailbox.protected');
    expectError(await t.app.inject({ method: 'DELETE', url: `/api/mailboxes/${sent}`, headers: ann.headers }), 403, 'mailbox.protected');
    expectError(await post(ann, '/api/mailboxes', { name: 'Keep' }), 409, 'mailbox.exists');
    expectError(await post(ann, '/api/mailboxes', { name: 'INBOX' }), 409, 'mailbox.exists');
    expectError(await post(ann, '/api/mailboxes', { name: 'bad\u0007name' }), 400, 'mailbox.name_invalid');
    expectError(await post(ann, '/api/mailboxes', { name: '   ' }), 400, 'mailbox.name_invalid');
    expectError(await post(ann, '/api/mailboxes', { name: '' }), 400, 'request.invalid');
    expectError(await post(ann, '/api/mailboxes', { name: 'x'.repeat(201) }), 400, 'request.invalid');
    expectError(await post(ann, '/api/mailboxes', { title: 'x' }), 400, 'request.invalid');
    expectError(await t.app.inject({ method: 'PATCH', url: '/api/mailboxes/abc', headers: ann.headers, payload: { name: 'x' } }), 400, 'request.invalid');
    expect(await snapshot(ann.userId)).toEqual(before);
  });

  it('empties Trash and Junk, and refuses any other folder with 409', async () => {
    await deliver(ann.userId, { mailbox: '\\Trash' });
    await deliver(ann.userId, { mailbox: '\\Trash' });
    const trash = await mailboxId(ann, '\\Trash');
    const res = await post(ann, `/api/mailboxes/${trash}/empty`);
    expect(res.statusCode).toBe(200);
    expect(res.json().deleted).toBeGreaterThanOrEqual(2);
    expect((await mailboxes(ann)).find((m) => m.id === trash)).toMatchObject({ total: 0, unread: 0 });
    expectError(await post(ann, `/api/mailboxes/${await mailboxId(ann, '\\Inbox')}/empty`), 409, 'mailbox.not_emptyable');
  });
});

describe('GET /api/threads/:id', () => {
  it('lists the conversation across folders, oldest first', async () => {
    const root = await deliver(ann.userId, { raw: 'From: a@far.test\nSubject: Lunch\nMessage-ID: <lunch@far.test>\n\nnoon?\n', date: new Date('2026-03-01T12:00:00Z') });
    const reply = await deliver(ann.userId, {
      mailbox: '\\Sent',
      raw: 'From: ann@m.test\nSubject: Re: Lunch\nMessage-ID: <lunch2@m.test>\nIn-Reply-To: <lunch@far.test>\n\nyes\n',
      date: new Date('2026-03-01T12:05:00Z'),
    });
    expect(reply.threadId).toBe(root.threadId);
    const res = await t.app.inject({ method: 'GET', url: `/api/threads/${root.threadId}`, headers: { cookie: ann.cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.json().threadId).toBe(root.threadId);
    expect(res.json().messages.map((m: { id: number; subject: string }) => [m.id, m.subject])).toEqual([
      [root.messageId, 'Lunch'],
      [reply.messageId, 'Re: Lunch'],
    ]);
    expectError(await t.app.inject({ method: 'GET', url: '/api/threads/999999999', headers: { cookie: ann.cookie } }), 404, 'thread.not_found');
    expectError(await t.app.inject({ method: 'GET', url: '/api/threads/zero', headers: { cookie: ann.cookie } }), 400, 'request.invalid');
  });
});

describe('GET /api/messages/:id/attachments/:index', () => {
  it('downloads the attachment bytes with a safe, RFC 5987-encoded disposition and sandboxing headers', async () => {
    const m = await deliver(ann.userId, { raw: attachmentMail("filename*=UTF-8''r%C3%A9sum%C3%A9%20(final).pdf") });
    const res = await t.app.inject({ method: 'GET', url: `/api/messages/${m.messageId}/attachments/0`, headers: { cookie: ann.cookie } });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(PDF)).toBe(true);
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="r_sum_ (final).pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%28final%29.pdf`);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toBe('sandbox');
  });

  it('answers 404 for an index past the last attachment and 400 for a malformed one', async () => {
    const m = await deliver(ann.userId, { raw: attachmentMail('filename="a.pdf"') });
    expectError(await t.app.inject({ method: 'GET', url: `/api/messages/${m.messageId}/attachments/1`, headers: { cookie: ann.cookie } }), 404, 'attachment.not_found');
    expectError(await t.app.inject({ method: 'GET', url: `/api/messages/${m.messageId}/attachments/-1`, headers: { cookie: ann.cookie } }), 400, 'request.invalid');
    expectError(await t.app.inject({ method: 'GET', url: `/api/messages/${m.messageId}/attachments/x`, headers: { cookie: ann.cookie } }), 400, 'request.invalid');
  });
});

describe('authentication and CSRF', () => {
  it('requires a session (401) and the CSRF header (403) on every write', async () => {
    const m = await deliver(ann.userId, { mailbox: '\\Trash' });
    const custom = (await post(ann, '/api/mailboxes', { name: 'Csrf' })).json().id as number;
    const trash = await mailboxId(ann, '\\Trash');
    const writes: Array<{ method: 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: object }> = [
      { method: 'POST', url: '/api/messages/flags', payload: { ids: [m.messageId], read: true } },
      { method: 'POST', url: '/api/messages/move', payload: { ids: [m.messageId], mailboxId: custom } },
      { method: 'POST', url: '/api/messages/archive', payload: { ids: [m.messageId] } },
      { method: 'POST', url: '/api/messages/trash', payload: { ids: [m.messageId] } },
      { method: 'POST', url: '/api/messages/restore', payload: { ids: [m.messageId] } },
      { method: 'POST', url: '/api/messages/delete', payload: { ids: [m.messageId] } },
      { method: 'POST', url: `/api/mailboxes/${trash}/empty` },
      { method: 'POST', url: '/api/mailboxes', payload: { name: 'Nope' } },
      { method: 'PATCH', url: `/api/mailboxes/${custom}`, payload: { name: 'Nope' } },
      { method: 'DELETE', url: `/api/mailboxes/${custom}` },
    ];
    const before = await snapshot(ann.userId);
    for (const w of writes) {
      const base = { method: w.method, url: w.url, ...(w.payload ? { payload: w.payload } : {}) };
      expectError(await t.app.inject({ ...base }), 401, 'auth.required');
      expectError(await t.app.inject({ ...base, headers: { cookie: ann.cookie } }), 403, 'auth.csrf');
      expectError(await t.app.inject({ ...base, headers: { cookie: ann.cookie, 'x-csrf-token': ben.csrf } }), 403, 'auth.csrf');
    }
    expect(await snapshot(ann.userId)).toEqual(before);
    for (const url of [`/api/threads/1`, `/api/messages/${m.messageId}/attachments/0`]) {
      expectError(await t.app.inject({ method: 'GET', url }), 401, 'auth.required');
    }
  });
});

describe('access control', () => {
  it('gives another user 404 for this user\'s message, mailbox, thread and attachment ids, and leaves this user\'s data unchanged', async () => {
    const inboxMsg = await deliver(ann.userId, { raw: attachmentMail('filename="secret.pdf"') });
    const trashMsg = await deliver(ann.userId, { mailbox: '\\Trash' });
    const custom = (await post(ann, '/api/mailboxes', { name: 'Private' })).json().id as number;
    const annTrash = await mailboxId(ann, '\\Trash');
    const annInbox = await mailboxId(ann, '\\Inbox');
    const benInbox = await mailboxId(ben, '\\Inbox');
    const benOwn = await deliver(ben.userId, { mailbox: '\\Trash' });
    const before = await snapshot(ann.userId);
    const benBefore = await snapshot(ben.userId);

    const requests: Array<{ method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: object; code: string }> = [
      { method: 'POST', url: '/api/messages/flags', payload: { ids: [inboxMsg.messageId], read: true }, code: 'message.not_found' },
      // Mixed with one of Ben's own: still 404, and Ben's own message is not changed either.
      { method: 'POST', url: '/api/messages/flags', payload: { ids: [benOwn.messageId, inboxMsg.messageId], starred: true }, code: 'message.not_found' },
      { method: 'POST', url: '/api/messages/move', payload: { ids: [inboxMsg.messageId], mailboxId: benInbox }, code: 'message.not_found' },
      { method: 'POST', url: '/api/messages/move', payload: { ids: [benOwn.messageId], mailboxId: annInbox }, code: 'mailbox.not_found' },
      { method: 'POST', url: '/api/messages/archive', payload: { ids: [inboxMsg.messageId] }, code: 'message.not_found' },
      { method: 'POST', url: '/api/messages/trash', payload: { ids: [inboxMsg.messageId] }, code: 'message.not_found' },
      { method: 'POST', url: '/api/messages/restore', payload: { ids: [trashMsg.messageId] }, code: 'message.not_found' },
      { method: 'POST', url: '/api/messages/delete', payload: { ids: [trashMsg.messageId] }, code: 'message.not_found' },
      { method: 'POST', url: `/api/mailboxes/${annTrash}/empty`, code: 'mailbox.not_found' },
      { method: 'PATCH', url: `/api/mailboxes/${custom}`, payload: { name: 'Mine' }, code: 'mailbox.not_found' },
      { method: 'DELETE', url: `/api/mailboxes/${custom}`, code: 'mailbox.not_found' },
      { method: 'GET', url: `/api/mailboxes/${custom}/messages`, code: 'mailbox.not_found' },
      { method: 'GET', url: `/api/threads/${inboxMsg.threadId}`, code: 'thread.not_found' },
      { method: 'GET', url: `/api/messages/${inboxMsg.messageId}/attachments/0`, code: 'message.not_found' },
    ];
    for (const r of requests) {
      const headers = r.method === 'GET' ? { cookie: ben.cookie } : ben.headers;
      const res = await t.app.inject({ method: r.method, url: r.url, headers, ...(r.payload ? { payload: r.payload } : {}) });
      expect(res.statusCode, `${r.method} ${r.url}`).toBe(404);
      expect(res.json().error.code, `${r.method} ${r.url}`).toBe(r.code);
      expect(res.body).not.toContain('secret.pdf');
      expect(res.body).not.toContain('Private');
    }
    expect(await snapshot(ann.userId)).toEqual(before);
    expect(await snapshot(ben.userId)).toEqual(benBefore);
    // And Ann herself still can.
    expect((await t.app.inject({ method: 'GET', url: `/api/messages/${inboxMsg.messageId}/attachments/0`, headers: { cookie: ann.cookie } })).statusCode).toBe(200);
  });
});
