import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSpamLearnQueue, spamLearnJobId, type SpamLearnQueue } from '../../../../core/src/queue/spam-learn.js';
import { ingestMessage } from '../../../../core/src/mail/mailbox-writer/index.js';
import { summarizeMessage } from '../../../../core/src/mail/parse.js';
import type { SpecialUse } from '../../../../core/src/db/schema.js';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';

/**
 * The API's moves teach the spam engine (issue 11): with RSPAMD_URL set (`spamLearning`), a move
 * into Junk queues a `spam-learn` job "spam" for that message, a move out of Junk (not to Trash)
 * "ham". The inbound worker's side (the job reaching rspamd) is
 * inbound-worker/src/spam-learn.worker.store.test.ts.
 */

let t: TestBackend;
let ann: Agent;
let queue: SpamLearnQueue;
let seq = 0;

async function deliver(userId: number, mailbox: SpecialUse = '\\Inbox') {
  seq++;
  const buf = Buffer.from(`From: Sam <sam@far.test>\r\nTo: ann@m.test\r\nSubject: Offer ${seq}\r\nMessage-ID: <o${seq}@far.test>\r\n\r\nbody ${seq}\r\n`);
  const r = await ingestMessage({ db: t.store.db, events: { publish: async () => undefined } }, { userId, mailbox: { specialUse: mailbox }, content: { raw: buf }, summary: await summarizeMessage(buf) });
  return r.messageId;
}

async function mailboxId(agent: Agent, specialUse: string, backend: TestBackend = t): Promise<number> {
  const res = await backend.app.inject({ method: 'GET', url: '/api/mailboxes', headers: { cookie: agent.cookie } });
  return (res.json().mailboxes as Array<{ id: number; specialUse: string | null }>).find((m) => m.specialUse === specialUse)!.id;
}

function post(url: string, payload: object) {
  return t.app.inject({ method: 'POST', url, headers: ann.headers, payload });
}

async function queued(kind: 'spam' | 'ham', messageId: number) {
  const job = await queue.queue.getJob(spamLearnJobId({ kind, messageId }));
  return job ? job.data : null;
}

beforeAll(async () => {
  t = await createTestBackend({ spamLearning: true });
  ({ ann } = await signInTwoUsers(t));
  queue = createSpamLearnQueue(t.redis);
});

afterAll(async () => {
  await queue?.close();
  await t?.close();
});

describe('learning from the API\'s moves', () => {
  it('a move into Junk queues "spam" for each message moved, once however often it is moved', async () => {
    const [a, b] = [await deliver(ann.userId), await deliver(ann.userId)];
    const junk = await mailboxId(ann, '\\Junk');
    expect((await post('/api/messages/move', { ids: [a, b], mailboxId: junk })).statusCode).toBe(200);
    expect(await queued('spam', a)).toEqual({ userId: ann.userId, messageId: a, kind: 'spam' });
    expect(await queued('spam', b)).toEqual({ userId: ann.userId, messageId: b, kind: 'spam' });
    expect(await queued('ham', a)).toBeNull();

    // Out and back in: the same job id, so it is not learned twice.
    expect((await post('/api/messages/move', { ids: [a], mailboxId: await mailboxId(ann, '\\Archive') })).statusCode).toBe(200);
    expect((await post('/api/messages/move', { ids: [a], mailboxId: junk })).statusCode).toBe(200);
    expect((await queue.queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'])).filter((j) => j.id === spamLearnJobId({ kind: 'spam', messageId: a }))).toHaveLength(1);
  });

  it('a move out of Junk into the Inbox queues "ham"; into Trash nothing', async () => {
    const [a, b] = [await deliver(ann.userId, '\\Junk'), await deliver(ann.userId, '\\Junk')];
    expect((await post('/api/messages/move', { ids: [a], mailboxId: await mailboxId(ann, '\\Inbox') })).statusCode).toBe(200);
    expect((await post('/api/messages/trash', { ids: [b] })).statusCode).toBe(200);
    expect(await queued('ham', a)).toEqual({ userId: ann.userId, messageId: a, kind: 'ham' });
    expect(await queued('ham', b)).toBeNull();
    expect(await queued('spam', b)).toBeNull();
  });

  it('moves that do not touch Junk queue nothing', async () => {
    const a = await deliver(ann.userId);
    expect((await post('/api/messages/archive', { ids: [a] })).statusCode).toBe(200);
    expect(await queued('spam', a)).toBeNull();
    expect(await queued('ham', a)).toBeNull();
  });
});

describe('without rspamd', () => {
  it('a move into Junk queues nothing', async () => {
    const plain = await createTestBackend();
    const q = createSpamLearnQueue(plain.redis);
    try {
      const other = await signInTwoUsers(plain);
      const buf = Buffer.from('From: sam@far.test\r\nSubject: x\r\n\r\nx\r\n');
      const { messageId } = await ingestMessage({ db: plain.store.db, events: { publish: async () => undefined } }, { userId: other.ann.userId, mailbox: { specialUse: '\\Inbox' }, content: { raw: buf }, summary: await summarizeMessage(buf) });
      const res = await plain.app.inject({ method: 'POST', url: '/api/messages/move', headers: other.ann.headers, payload: { ids: [messageId], mailboxId: await mailboxId(other.ann, '\\Junk', plain) } });
      expect(res.statusCode).toBe(200);
      expect(await q.queue.getJobCounts()).toEqual(expect.objectContaining({ waiting: 0, delayed: 0, completed: 0, active: 0, failed: 0 }));
    } finally {
      await q.close();
      await plain.close();
    }
  });
});
