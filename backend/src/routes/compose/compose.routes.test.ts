import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { ingestMessage } from '../../../../core/src/mail/mailbox-writer/index.js';
import { summarizeMessage } from '../../../../core/src/mail/parse.js';
import { createUploadRepository } from '../../../../core/src/repositories/upload.repository.js';
import { DEFAULT_MAX_UPLOAD_BYTES } from './compose.routes.js';

let t: TestBackend;
let ann: Agent;
let ben: Agent;
let annInboxMessage: number;

const BOUNDARY = '----mailyard-test-boundary';

function multipartBody(filename: string, contentType: string, content: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${contentType}\r\n\r\n`),
    content,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

function upload(agent: Agent, filename: string, content: Buffer, headers: Record<string, string> = agent.headers) {
  return t.app.inject({
    method: 'POST',
    url: '/api/uploads',
    headers: { ...headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    payload: multipartBody(filename, 'text/plain', content),
  });
}

async function uploadOk(agent: Agent, filename: string, content: Buffer): Promise<string> {
  const res = await upload(agent, filename, content);
  expect(res.statusCode).toBe(201);
  return (res.json() as { id: string }).id;
}

async function rawOf(agent: Agent, id: number): Promise<string> {
  const res = await t.app.inject({ method: 'GET', url: `/api/messages/${id}/raw`, headers: { cookie: agent.cookie } });
  expect(res.statusCode).toBe(200);
  return res.body;
}

async function draftIds(agent: Agent): Promise<number[]> {
  const res = await t.app.inject({ method: 'GET', url: '/api/drafts', headers: { cookie: agent.cookie } });
  expect(res.statusCode).toBe(200);
  return (res.json() as { drafts: Array<{ id: number }> }).drafts.map((d) => d.id);
}

async function uploadFiles(): Promise<string[]> {
  return (await readdir(path.join(t.dataDir, 'uploads')).catch(() => [] as string[])).sort();
}

beforeAll(async () => {
  t = await createTestBackend();
  ({ ann, ben } = await signInTwoUsers(t));
  const raw = Buffer.from('From: Sam <sam@far.test>\r\nTo: ann@m.test\r\nSubject: Lunch?\r\nMessage-ID: <lunch@far.test>\r\n\r\nnoon?\r\n');
  const filed = await ingestMessage({ db: t.store.db, events: { publish: async () => undefined } }, { userId: ann.userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) });
  annInboxMessage = filed.messageId;
});
afterAll(async () => {
  await t.close();
});

describe('POST /api/uploads', () => {
  it('stores the file under a random id and answers its name, type and size', async () => {
    const res = await upload(ann, 'notes.txt', Buffer.from('hello upload'));
    expect(res.statusCode).toBe(201);
    const body = res.json() as { id: string; filename: string; contentType: string; size: number };
    expect(body).toMatchObject({ filename: 'notes.txt', contentType: 'text/plain', size: 12 });
    expect(body.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // The bytes live under the random id, never under the user's filename.
    expect(await uploadFiles()).toContain(body.id);
    expect(await uploadFiles()).not.toContain('notes.txt');
  });

  it('keeps only the base name of a filename with directories in it', async () => {
    const res = await upload(ann, '../../etc/passwd', Buffer.from('x'));
    expect(res.statusCode).toBe(201);
    expect(res.json().filename).toBe('passwd');
  });

  it('rejects a file over the 25 MB limit with 413 upload.too_large and keeps no partial file', async () => {
    const before = await t.store.db.selectFrom('uploads').select('id').execute();
    const filesBefore = await uploadFiles();
    const res = await upload(ann, 'big.bin', Buffer.alloc(DEFAULT_MAX_UPLOAD_BYTES + 1, 0x61));
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('upload.too_large');
    const after = await t.store.db.selectFrom('uploads').select('id').execute();
    expect(after).toHaveLength(before.length);
    expect(await uploadFiles()).toEqual(filesBefore);
  });

  it('rejects a request without a file, or not multipart, with 400', async () => {
    const json = await t.app.inject({ method: 'POST', url: '/api/uploads', headers: ann.headers, payload: { file: 'x' } });
    expect(json.statusCode).toBe(400);
    const empty = await t.app.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...ann.headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      payload: `--${BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nno file\r\n--${BOUNDARY}--\r\n`,
    });
    expect(empty.statusCode).toBe(400);
  });

  it('requires the CSRF header (403) and a session (401)', async () => {
    const noCsrf = await upload(ann, 'a.txt', Buffer.from('a'), { cookie: ann.cookie });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json().error.code).toBe('auth.csrf');
    const anonymous = await upload(ann, 'a.txt', Buffer.from('a'), {});
    expect(anonymous.statusCode).toBe(401);
  });
});

describe('DELETE /api/uploads/:id', () => {
  it('deletes the owner\'s upload; another user gets 404 and the upload survives', async () => {
    const id = await uploadOk(ann, 'mine.txt', Buffer.from('mine'));
    const byBen = await t.app.inject({ method: 'DELETE', url: `/api/uploads/${id}`, headers: ben.headers });
    expect(byBen.statusCode).toBe(404);
    expect(await t.store.db.selectFrom('uploads').select('id').where('id', '=', id).executeTakeFirst()).toBeDefined();
    const byAnn = await t.app.inject({ method: 'DELETE', url: `/api/uploads/${id}`, headers: ann.headers });
    expect(byAnn.statusCode).toBe(200);
    expect(await uploadFiles()).not.toContain(id);
    const again = await t.app.inject({ method: 'DELETE', url: `/api/uploads/${id}`, headers: ann.headers });
    expect(again.statusCode).toBe(404);
  });

  it('requires the CSRF header', async () => {
    const id = await uploadOk(ann, 'keep.txt', Buffer.from('keep'));
    const res = await t.app.inject({ method: 'DELETE', url: `/api/uploads/${id}`, headers: { cookie: ann.cookie } });
    expect(res.statusCode).toBe(403);
  });
});

describe('upload sweep', () => {
  it('deletes uploads older than the cut-off, rows and files, and keeps newer ones', async () => {
    const old = await uploadOk(ann, 'old.txt', Buffer.from('old'));
    const fresh = await uploadOk(ben, 'fresh.txt', Buffer.from('fresh'));
    await t.store.db.updateTable('uploads').set({ created_at: new Date(Date.now() - 2 * 86_400_000) }).where('id', '=', old).execute();
    const removed = await createUploadRepository(t.store.db, t.dataDir).sweep(new Date(Date.now() - 86_400_000));
    expect(removed).toBeGreaterThanOrEqual(1);
    expect(await t.store.db.selectFrom('uploads').select('id').where('id', 'in', [old, fresh]).execute()).toEqual([{ id: fresh }]);
    const files = await uploadFiles();
    expect(files).not.toContain(old);
    expect(files).toContain(fresh);
  });
});

describe('drafts', () => {
  it('POST files a draft in Drafts (\\Draft, read) whose MIME holds From, To, Bcc, subject and the attachment', async () => {
    const attachment = await uploadOk(ann, 'plan.txt', Buffer.from('the plan'));
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/drafts',
      headers: ann.headers,
      payload: { to: ['Ben <ben@m.test>'], bcc: ['boss@far.test'], subject: 'Draft one', text: 'hello ben', attachments: [attachment] },
    });
    expect(res.statusCode).toBe(201);
    const { id } = res.json() as { id: number };
    const raw = await rawOf(ann, id);
    expect(raw).toContain('Subject: Draft one');
    expect(raw).toMatch(/^From: ann@m\.test/m);
    expect(raw).toMatch(/^To: Ben <ben@m\.test>/m);
    expect(raw).toMatch(/^Bcc: boss@far\.test/m);
    expect(raw).toContain('filename=plan.txt');
    expect(raw).toContain(Buffer.from('the plan').toString('base64'));
    const row = await t.store.db
      .selectFrom('messages')
      .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
      .select(['messages.flags', 'mailboxes.special_use'])
      .where('messages.id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.special_use).toBe('\\Drafts');
    expect(row.flags).toEqual(expect.arrayContaining(['\\Draft', '\\Seen']));
    expect(await draftIds(ann)).toContain(id);
  });

  it('a reply draft carries In-Reply-To and joins the conversation of the message it answers', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: ann.headers, payload: { to: ['sam@far.test'], subject: 'Re: Lunch?', text: 'yes', inReplyTo: annInboxMessage } });
    expect(res.statusCode).toBe(201);
    const raw = await rawOf(ann, res.json().id);
    expect(raw).toContain('In-Reply-To: <lunch@far.test>');
    const rows = await t.store.db.selectFrom('messages').select('thread_id').where('id', 'in', [annInboxMessage, res.json().id]).execute();
    expect(new Set(rows.map((r) => r.thread_id)).size).toBe(1);
  });

  it('PUT files the new version, deletes the old one and answers the new id', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: ann.headers, payload: { subject: 'v1', text: 'first' } });
    const oldId = created.json().id as number;
    const res = await t.app.inject({ method: 'PUT', url: `/api/drafts/${oldId}`, headers: ann.headers, payload: { to: ['ben@m.test'], subject: 'v2', text: 'second' } });
    expect(res.statusCode).toBe(200);
    const newId = res.json().id as number;
    expect(newId).not.toBe(oldId);
    const ids = await draftIds(ann);
    expect(ids).toContain(newId);
    expect(ids).not.toContain(oldId);
    expect(await rawOf(ann, newId)).toContain('Subject: v2');
    const gone = await t.app.inject({ method: 'GET', url: `/api/messages/${oldId}`, headers: { cookie: ann.cookie } });
    expect(gone.statusCode).toBe(404);
  });

  it('GET lists only the user\'s own drafts, in the list-item shape', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: ben.headers, payload: { subject: 'bens draft' } });
    expect(created.statusCode).toBe(201);
    const res = await t.app.inject({ method: 'GET', url: '/api/drafts', headers: { cookie: ben.cookie } });
    expect(res.statusCode).toBe(200);
    const drafts = res.json().drafts as Array<Record<string, unknown>>;
    expect(drafts).toHaveLength(1);
    expect(drafts[0]).toMatchObject({ id: created.json().id, subject: 'bens draft', unread: false, from: [{ address: 'ben@m.test' }] });
    expect(await draftIds(ann)).not.toContain(created.json().id);
  });

  it('DELETE removes the draft; a second delete is 404', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: ann.headers, payload: { subject: 'to delete' } });
    const id = created.json().id as number;
    const res = await t.app.inject({ method: 'DELETE', url: `/api/drafts/${id}`, headers: ann.headers });
    expect(res.statusCode).toBe(200);
    expect(await draftIds(ann)).not.toContain(id);
    const again = await t.app.inject({ method: 'DELETE', url: `/api/drafts/${id}`, headers: ann.headers });
    expect(again.statusCode).toBe(404);
  });

  it('an id that is not in the user\'s Drafts is 404 for PUT and DELETE, and the message is untouched', async () => {
    const inbox = await t.app.inject({ method: 'PUT', url: `/api/drafts/${annInboxMessage}`, headers: ann.headers, payload: { subject: 'x' } });
    expect(inbox.statusCode).toBe(404);
    expect(inbox.json().error.code).toBe('draft.not_found');
    const annDraft = (await draftIds(ann))[0]!;
    const byBen = await t.app.inject({ method: 'DELETE', url: `/api/drafts/${annDraft}`, headers: ben.headers });
    expect(byBen.statusCode).toBe(404);
    const benPut = await t.app.inject({ method: 'PUT', url: `/api/drafts/${annDraft}`, headers: ben.headers, payload: { subject: 'hijack' } });
    expect(benPut.statusCode).toBe(404);
    expect(await draftIds(ann)).toContain(annDraft);
    const stillThere = await t.app.inject({ method: 'GET', url: `/api/messages/${annInboxMessage}`, headers: { cookie: ann.cookie } });
    expect(stillThere.statusCode).toBe(200);
  });

  it('another user\'s upload cannot be attached (404 upload.not_found, nothing filed)', async () => {
    const annUpload = await uploadOk(ann, 'secret.txt', Buffer.from('secret'));
    const before = await draftIds(ben);
    const res = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: ben.headers, payload: { subject: 'steal', attachments: [annUpload] } });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('upload.not_found');
    expect(await draftIds(ben)).toEqual(before);
  });

  it('a bad address is 400 draft.invalid_address naming the field and the address', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: ann.headers, payload: { to: ['ben@m.test'], cc: ['not an address'] } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('draft.invalid_address');
    expect(res.json().error.message).toContain('cc');
    expect(res.json().error.message).toContain('not an address');
  });

  it('malformed input is 400 request.invalid (wrong types, a malformed upload id)', async () => {
    const wrongType = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: ann.headers, payload: { to: 'ben@m.test' } });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json().error.code).toBe('request.invalid');
    const badUpload = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: ann.headers, payload: { attachments: ['../../etc/passwd'] } });
    expect(badUpload.statusCode).toBe(400);
    const badId = await t.app.inject({ method: 'PUT', url: '/api/drafts/abc', headers: ann.headers, payload: {} });
    expect(badId.statusCode).toBe(400);
  });

  it('every draft write requires the CSRF header', async () => {
    const noCsrf = { cookie: ann.cookie };
    const id = (await draftIds(ann))[0]!;
    const post = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: noCsrf, payload: { subject: 'x' } });
    const put = await t.app.inject({ method: 'PUT', url: `/api/drafts/${id}`, headers: noCsrf, payload: { subject: 'x' } });
    const del = await t.app.inject({ method: 'DELETE', url: `/api/drafts/${id}`, headers: noCsrf });
    expect([post.statusCode, put.statusCode, del.statusCode]).toEqual([403, 403, 403]);
    expect(await draftIds(ann)).toContain(id);
  });
});
