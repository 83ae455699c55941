import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';

/**
 * What bounds a user's writing through the API: their storage quota (413 quota.exceeded, and
 * GET /api/account/usage shows it), the size of a composed message with its uploads (413
 * message.too_large at the MX's size limit), and how often drafts may be saved (429
 * draft.rate_limited with Retry-After).
 */

const MAX_MESSAGE_BYTES = 64 * 1024;
const BOUNDARY = '----mailyard-limits-boundary';

let t: TestBackend;
let ann: Agent;
let ben: Agent;

async function upload(agent: Agent, bytes: number): Promise<string> {
  const payload = Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    Buffer.alloc(bytes, 0x61),
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
  const res = await t.app.inject({ method: 'POST', url: '/api/uploads', headers: { ...agent.headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, payload });
  expect(res.statusCode).toBe(201);
  return (res.json() as { id: string }).id;
}

const saveDraft = (agent: Agent, payload: object) => t.app.inject({ method: 'POST', url: '/api/drafts', headers: agent.headers, payload });
const send = (agent: Agent, payload: object) => t.app.inject({ method: 'POST', url: '/api/messages/send', headers: agent.headers, payload });
const usage = async (agent: Agent) => {
  const res = await t.app.inject({ method: 'GET', url: '/api/account/usage', headers: { cookie: agent.cookie } });
  expect(res.statusCode).toBe(200);
  return res.json() as { usedBytes: number; quotaBytes: number | null };
};

async function storedBytes(userId: number): Promise<number> {
  const { rows } = await sql<{ bytes: number }>`SELECT COALESCE(sum(size), 0)::bigint AS bytes FROM messages WHERE user_id = ${userId}`.execute(t.store.db);
  return rows[0]!.bytes;
}

async function setQuota(userId: number, quotaBytes: number | null): Promise<void> {
  await t.store.db.updateTable('users').set({ quota_bytes: quotaBytes }).where('id', '=', userId).execute();
}

beforeAll(async () => {
  t = await createTestBackend({ maxMessageBytes: MAX_MESSAGE_BYTES });
  ({ ann, ben } = await signInTwoUsers(t));
});
afterAll(async () => {
  await t.close();
});

describe('storage quota', () => {
  it('GET /api/account/usage answers the bytes stored and the quota', async () => {
    expect(await usage(ann)).toEqual({ usedBytes: 0, quotaBytes: null });
    expect((await saveDraft(ann, { subject: 'counted', text: 'some words' })).statusCode).toBe(201);
    await setQuota(ann.userId, 10 * 1024 * 1024);
    const after = await usage(ann);
    expect(after).toEqual({ usedBytes: await storedBytes(ann.userId), quotaBytes: 10 * 1024 * 1024 });
    expect(after.usedBytes).toBeGreaterThan(0);
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/account/usage' });
    expect(anonymous.statusCode).toBe(401);
  });

  it('refuses a draft and a send with 413 quota.exceeded once the user is at their quota, and stores nothing', async () => {
    await setQuota(ben.userId, await storedBytes(ben.userId));
    const before = await storedBytes(ben.userId);

    const draft = await saveDraft(ben, { subject: 'no room', text: 'hello' });
    expect(draft.statusCode).toBe(413);
    expect(draft.json()).toMatchObject({ error: { code: 'quota.exceeded', message: expect.stringContaining('full') } });
    const sent = await send(ben, { to: ['ann@m.test'], subject: 'no room', text: 'hello' });
    expect(sent.statusCode).toBe(413);
    expect(sent.json()).toMatchObject({ error: { code: 'quota.exceeded' } });
    expect(await storedBytes(ben.userId)).toBe(before);

    // With room for it, the same draft is saved.
    await setQuota(ben.userId, before + 64 * 1024);
    expect((await saveDraft(ben, { subject: 'room', text: 'hello' })).statusCode).toBe(201);
    await setQuota(ben.userId, null);
  });
});

describe('composed message size', () => {
  it('refuses a draft or a send whose uploads take it over the size limit with 413 message.too_large', async () => {
    const a = await upload(ann, 30 * 1024);
    const b = await upload(ann, 30 * 1024);
    // 60 KB of uploads is 80 KB once base64-encoded: over the 64 KB limit.
    const draft = await saveDraft(ann, { subject: 'big', attachments: [a, b] });
    expect(draft.statusCode).toBe(413);
    expect(draft.json()).toMatchObject({ error: { code: 'message.too_large' } });
    const sent = await send(ann, { to: ['ben@m.test'], subject: 'big', attachments: [a, b] });
    expect(sent.statusCode).toBe(413);
    expect(sent.json()).toMatchObject({ error: { code: 'message.too_large' } });

    // Text alone can be too big as well.
    const text = await saveDraft(ann, { subject: 'long', text: 'word '.repeat(14_000) });
    expect(text.statusCode).toBe(413);

    // One of them fits.
    expect((await saveDraft(ann, { subject: 'fits', attachments: [a] })).statusCode).toBe(201);
  });
});

describe('draft save rate', () => {
  it('answers 429 draft.rate_limited with Retry-After after 60 saves in a minute', async () => {
    const carl = await (async () => {
      await t.accounts.addUser({ address: 'carl@m.test', password: 'carl password' });
      return t.login('carl@m.test', 'carl password');
    })();
    for (let i = 0; i < 60; i++) expect((await saveDraft(carl, { subject: `draft ${i}` })).statusCode).toBe(201);
    const limited = await saveDraft(carl, { subject: 'one too many' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ error: { code: 'draft.rate_limited' } });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    const ids = await t.app.inject({ method: 'GET', url: '/api/drafts', headers: { cookie: carl.cookie } });
    expect((ids.json() as { drafts: unknown[] }).drafts).toHaveLength(60);
    // Replacing a draft counts too; another user is not limited.
    const first = (ids.json() as { drafts: Array<{ id: number }> }).drafts[0]!.id;
    expect((await t.app.inject({ method: 'PUT', url: `/api/drafts/${first}`, headers: carl.headers, payload: { subject: 'edit' } })).statusCode).toBe(429);
    expect((await saveDraft(ben, { subject: 'unaffected' })).statusCode).toBe(201);
  });
});
