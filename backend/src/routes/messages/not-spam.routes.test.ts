import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { ingestMessage } from '../../../../core/src/mail/mailbox-writer/index.js';
import { summarizeMessage } from '../../../../core/src/mail/parse.js';
import type { FilterDecisionJson, SpecialUse } from '../../../../core/src/db/schema.js';
import { QUEUE_SPAM_LEARN, spamLearnJobId } from '../../../../core/src/queue/spam-learn.js';

/** The spam decision in GET /api/messages/:id, and POST /api/messages/:id/not-spam (issue 11). */

let t: TestBackend;
let ann: Agent;
let ben: Agent;
let seq = 0;

const junked: FilterDecisionJson = {
  verdict: 'junk',
  score: 7.5,
  junkThreshold: 6,
  rejectThreshold: 15,
  engine: 'builtin',
  override: null,
  reason: 'Spam score 7.5 is at or above the Junk threshold 6: the SPF record of far.test does not allow this sending server.',
  checks: [{ check: 'spf', result: 'fail', score: 2, detail: 'the SPF record of far.test does not allow this sending server' }],
};

async function deliver(userId: number, options: { mailbox?: SpecialUse; from?: string | null; filter?: FilterDecisionJson | null } = {}) {
  seq++;
  const from = options.from === undefined ? 'Sam <Sam@Far.test>' : options.from;
  const raw = Buffer.from(`${from ? `From: ${from}\r\n` : ''}To: ann@m.test\r\nSubject: Offer ${seq}\r\nMessage-ID: <o${seq}@far.test>\r\n\r\nbody\r\n`);
  const result = await ingestMessage(
    { db: t.store.db, events: { publish: async () => undefined } },
    { userId, mailbox: { specialUse: options.mailbox ?? '\\Junk' }, content: { raw }, summary: await summarizeMessage(raw), filter: options.filter === undefined ? junked : options.filter },
  );
  return result.messageId;
}

const detail = (agent: Agent, id: number) => t.app.inject({ method: 'GET', url: `/api/messages/${id}`, headers: { cookie: agent.cookie } });
const notSpam = (agent: Agent, id: number, payload: object = {}) => t.app.inject({ method: 'POST', url: `/api/messages/${id}/not-spam`, headers: agent.headers, payload });
const inboxOf = async (agent: Agent) => (await t.app.inject({ method: 'GET', url: '/api/mailboxes', headers: { cookie: agent.cookie } })).json().mailboxes.find((m: { specialUse: string }) => m.specialUse === '\\Inbox').id as number;
const senders = async (agent: Agent) => (await t.app.inject({ method: 'GET', url: '/api/filters/senders', headers: { cookie: agent.cookie } })).json().senders;

function expectError(res: { statusCode: number; json(): unknown }, status: number, code: string) {
  expect(res.statusCode).toBe(status);
  expect(res.json()).toEqual({ error: { code, message: expect.any(String) }, requestId: expect.any(String) });
}

beforeAll(async () => {
  t = await createTestBackend({ spamLearning: true });
  ({ ann, ben } = await signInTwoUsers(t));
});
afterAll(async () => {
  await t?.close();
});

describe('why a message is in Junk', () => {
  it('GET /api/messages/:id returns the stored decision, and null for mail the filter did not judge', async () => {
    const res = await detail(ann, await deliver(ann.userId));
    expect(res.statusCode).toBe(200);
    expect(res.json().filter).toEqual(junked);
    expect((await detail(ann, await deliver(ann.userId, { mailbox: '\\Inbox', filter: null }))).json().filter).toBeNull();
  });
});

describe('not spam', () => {
  it('moves the message to the Inbox and publishes the change, without touching the lists by default', async () => {
    const id = await deliver(ann.userId);
    const sub = new Redis(t.redisUrl);
    const seen: Array<{ type: string }> = [];
    try {
      await sub.subscribe(`user:${ann.userId}`);
      sub.on('message', (_channel, text: string) => seen.push(JSON.parse(text)));
      const res = await notSpam(ann, id);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ message: { id, mailboxId: await inboxOf(ann), unread: true, starred: false }, sender: null });
      const deadline = Date.now() + 10_000;
      while (!seen.some((e) => e.type === 'message.moved') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(seen.map((e) => e.type)).toContain('message.moved');
    } finally {
      sub.disconnect();
    }
    expect(await senders(ann)).toEqual([]);
  });

  it('with allowSender puts the From address on the allow list', async () => {
    const res = await notSpam(ann, await deliver(ann.userId), { allowSender: true });
    expect(res.statusCode).toBe(200);
    expect(res.json().sender).toEqual({ id: expect.any(Number), kind: 'allow', pattern: 'sam@far.test', createdAt: expect.any(String) });
    expect(await senders(ann)).toEqual([res.json().sender]);
  });

  it('asks the spam engine to learn the message as ham, from Junk and from any other folder', async () => {
    const connection = new Redis(t.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_SPAM_LEARN, { connection });
    try {
      for (const mailbox of ['\\Junk', '\\Archive'] as const) {
        const id = await deliver(ann.userId, { mailbox });
        expect((await notSpam(ann, id)).statusCode).toBe(200);
        expect((await queue.getJob(spamLearnJobId({ kind: 'ham', messageId: id })))?.data).toEqual({ userId: ann.userId, messageId: id, kind: 'ham' });
      }
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it('refuses allowSender for a message with no From address, and moves nothing', async () => {
    const id = await deliver(ann.userId, { from: null });
    expectError(await notSpam(ann, id, { allowSender: true }), 400, 'validation.failed');
    expect((await detail(ann, id)).json().mailboxId).not.toBe(await inboxOf(ann));
  });

  it("answers 404 for another user's message and changes nothing", async () => {
    const id = await deliver(ann.userId);
    expectError(await notSpam(ben, id, { allowSender: true }), 404, 'message.not_found');
    expect((await detail(ann, id)).json().mailboxId).not.toBe(await inboxOf(ann));
    expect(await senders(ben)).toEqual([]);
  });
});
