import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { createRateLimiter, SENT_MESSAGES_PER_USER, SENT_RECIPIENTS_PER_USER } from '../../../../core/src/auth/rate-limit.js';
import { ingestMessage } from '../../../../core/src/mail/mailbox-writer/index.js';
import { summarizeMessage } from '../../../../core/src/mail/parse.js';
import { outboundJobId, QUEUE_OUTBOUND, type OutboundJob } from '../../../../core/src/queue/queues.js';

let t: TestBackend;
let ann: Agent;
let ben: Agent;
let carl: Agent;
let outbound: Queue;
let annInboxMessage: number;

const BOUNDARY = '----mailyard-send-boundary';

interface SendResponse {
  messageId: number;
  outboundId: number;
  queued: Array<{ domain: string; recipients: string[] }>;
  deliveredLocally: string[];
}

function send(agent: Agent, payload: Record<string, unknown>, headers: Record<string, string> = agent.headers) {
  return t.app.inject({ method: 'POST', url: '/api/messages/send', headers, payload });
}

/** These tests send at once: an undo delay of 0 (holding is scheduled.routes.test.ts). */
async function sendAtOnce(agent: Agent): Promise<void> {
  const res = await t.app.inject({ method: 'PATCH', url: '/api/account/settings', headers: agent.headers, payload: { undoSendSeconds: 0 } });
  expect(res.statusCode, res.body).toBe(200);
}

async function sendOk(agent: Agent, payload: Record<string, unknown>): Promise<SendResponse> {
  const res = await send(agent, payload);
  expect(res.statusCode, res.body).toBe(202);
  const body = res.json() as { sent: SendResponse | null };
  expect(body.sent).not.toBeNull();
  return body.sent!;
}

/** The user's messages with this subject, as (special-use mailbox, id, flags). */
async function filed(userId: number, subject: string): Promise<Array<{ specialUse: string | null; id: number; flags: string[] }>> {
  const rows = await t.store.db
    .selectFrom('messages')
    .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
    .select(['mailboxes.special_use', 'messages.id', 'messages.flags'])
    .where('messages.user_id', '=', userId)
    .where('messages.subject', '=', subject)
    .orderBy('messages.id')
    .execute();
  return rows.map((r) => ({ specialUse: r.special_use, id: r.id, flags: r.flags }));
}

async function rawOf(agent: Agent, id: number): Promise<string> {
  const res = await t.app.inject({ method: 'GET', url: `/api/messages/${id}/raw`, headers: { cookie: agent.cookie } });
  expect(res.statusCode).toBe(200);
  return res.body;
}

function headerBlock(raw: string): string {
  return raw.slice(0, raw.indexOf('\r\n\r\n'));
}

async function uploadOk(agent: Agent, filename: string, content: string): Promise<string> {
  const payload = Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: text/plain\r\n\r\n`),
    Buffer.from(content),
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
  const res = await t.app.inject({ method: 'POST', url: '/api/uploads', headers: { ...agent.headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, payload });
  expect(res.statusCode).toBe(201);
  return (res.json() as { id: string }).id;
}

beforeAll(async () => {
  t = await createTestBackend();
  ({ ann, ben } = await signInTwoUsers(t));
  await t.accounts.addUser({ address: 'carl@m.test', password: 'carl password' });
  carl = await t.login('carl@m.test', 'carl password');
  for (const agent of [ann, ben, carl]) await sendAtOnce(agent);
  outbound = new Queue(QUEUE_OUTBOUND, { connection: t.redis });
  const raw = Buffer.from('From: Sam <sam@far.test>\r\nTo: ann@m.test\r\nSubject: Lunch?\r\nMessage-ID: <lunch@far.test>\r\nReferences: <plan@far.test>\r\n\r\nnoon?\r\n');
  annInboxMessage = (await ingestMessage({ db: t.store.db, events: { publish: async () => undefined } }, { userId: ann.userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) })).messageId;
});
afterAll(async () => {
  await outbound.close();
  await t.close();
});

describe('POST /api/messages/send', () => {
  it('files a message to oneself into Sent (\\Seen) and into the own INBOX, with a Message-ID on the sender domain and a Date', async () => {
    const body = await sendOk(ann, { to: ['ann@m.test'], subject: 'note to self', text: 'remember' });
    expect(body).toEqual({ messageId: expect.any(Number), outboundId: expect.any(Number), queued: [], deliveredLocally: ['ann@m.test'] });
    const copies = await filed(ann.userId, 'note to self');
    expect(copies.map((c) => c.specialUse).sort()).toEqual(['\\Inbox', '\\Sent']);
    const sent = copies.find((c) => c.specialUse === '\\Sent')!;
    expect(sent.id).toBe(body.messageId);
    expect(sent.flags).toContain('\\Seen');
    expect(copies.find((c) => c.specialUse === '\\Inbox')!.flags).not.toContain('\\Seen');
    const headers = headerBlock(await rawOf(ann, sent.id));
    expect(headers).toMatch(/^Message-ID: <[0-9a-f]{32}@m\.test>$/m);
    expect(headers).toMatch(/^Date: /m);
  });

  it("files a message to another local user into their INBOX and the sender's Sent, with no Bcc header in the recipient's copy", async () => {
    const body = await sendOk(ann, { to: ['Ben <ben@m.test>'], bcc: ['carl@m.test'], subject: 'hello ben', text: 'hi', html: '<p>hi</p>' });
    expect(body.queued).toEqual([]);
    expect(body.deliveredLocally.sort()).toEqual(['ben@m.test', 'carl@m.test']);
    expect((await filed(ann.userId, 'hello ben')).map((c) => c.specialUse)).toEqual(['\\Sent']);
    const benCopies = await filed(ben.userId, 'hello ben');
    expect(benCopies.map((c) => c.specialUse)).toEqual(['\\Inbox']);
    const raw = await rawOf(ben, benCopies[0]!.id);
    expect(headerBlock(raw)).not.toMatch(/^bcc:/im);
    expect(raw).not.toContain('carl@m.test');
    expect(headerBlock(raw)).toMatch(/^Content-Type: multipart\/alternative/m);
    // The Bcc recipient gets a copy too.
    expect((await filed(carl.userId, 'hello ben')).map((c) => c.specialUse)).toEqual(['\\Inbox']);
  });

  it('files one copy per local user even when an address and its +tag both name them', async () => {
    const body = await sendOk(ann, { to: ['ben@m.test'], cc: ['ben+news@m.test'], subject: 'one copy', text: 'x' });
    expect(body.deliveredLocally.sort()).toEqual(['ben+news@m.test', 'ben@m.test']);
    expect(await filed(ben.userId, 'one copy')).toHaveLength(1);
  });

  it('queues one outbound job per remote domain (ids, not bytes) and files nothing locally for remote recipients', async () => {
    const body = await sendOk(ann, { to: ['sam@far.test', 'Kim <kim@far.test>'], cc: ['lee@other.test'], subject: 'remote', text: 'hello there' });
    expect(body.deliveredLocally).toEqual([]);
    expect(body.queued).toEqual([
      { domain: 'far.test', recipients: ['sam@far.test', 'kim@far.test'] },
      { domain: 'other.test', recipients: ['lee@other.test'] },
    ]);
    const job = await outbound.getJob(outboundJobId({ outboundId: body.outboundId, domain: 'far.test', attempt: 0 }));
    expect(job?.id).toBe(`out-${body.outboundId}-far.test-0`);
    expect(job!.data as OutboundJob).toEqual({ outboundId: body.outboundId, domain: 'far.test', attempt: 0 });
    const other = await outbound.getJob(`out-${body.outboundId}-other.test-0`);
    expect(other!.data).toEqual({ outboundId: body.outboundId, domain: 'other.test', attempt: 0 });
    // The delivery record: each remote recipient queued, pointing at the Sent copy.
    const rows = await t.store.db.selectFrom('deliveries').innerJoin('outbound_messages', 'outbound_messages.id', 'deliveries.outbound_id')
      .select(['recipient', 'status', 'domain', 'outbound_messages.sent_message_id', 'outbound_messages.mail_from']).where('outbound_id', '=', body.outboundId).orderBy('recipient').execute();
    expect(rows).toEqual([
      { recipient: 'kim@far.test', status: 'queued', domain: 'far.test', sent_message_id: body.messageId, mail_from: 'ann@m.test' },
      { recipient: 'lee@other.test', status: 'queued', domain: 'other.test', sent_message_id: body.messageId, mail_from: 'ann@m.test' },
      { recipient: 'sam@far.test', status: 'queued', domain: 'far.test', sent_message_id: body.messageId, mail_from: 'ann@m.test' },
    ]);
    expect((await filed(ann.userId, 'remote')).map((c) => c.specialUse)).toEqual(['\\Sent']);
    expect(await filed(ben.userId, 'remote')).toEqual([]);
  });

  it('records every recipient as a contact the sender wrote to', async () => {
    await sendOk(ben, { to: ['Dana <dana@far.test>'], cc: ['ann@m.test'], subject: 'contacts', text: 'x' });
    const rows = await t.store.db.selectFrom('contacts').select(['address', 'name', 'sent_count']).where('user_id', '=', ben.userId).orderBy('address').execute();
    expect(rows).toEqual(expect.arrayContaining([
      { address: 'ann@m.test', name: '', sent_count: 1 },
      { address: 'dana@far.test', name: 'Dana', sent_count: 1 },
    ]));
  });

  it('sets In-Reply-To and References from the replied message', async () => {
    const body = await sendOk(ann, { to: ['sam@far.test'], subject: 'Re: Lunch?', text: 'sure', inReplyTo: annInboxMessage });
    const headers = headerBlock(await rawOf(ann, body.messageId));
    expect(headers).toMatch(/^In-Reply-To: <lunch@far\.test>$/m);
    expect(headers).toMatch(/^References: <plan@far\.test> <lunch@far\.test>$/m);
  });

  it('quotes the replied message below the text when asked (text and HTML)', async () => {
    const body = await sendOk(ann, { to: ['sam@far.test'], subject: 'Re: Lunch? (quoted)', text: 'sure thing', html: '<p>sure thing</p>', inReplyTo: annInboxMessage, quoteOriginal: true });
    const raw = await rawOf(ann, body.messageId);
    const view = (await t.app.inject({ method: 'GET', url: `/api/messages/${body.messageId}`, headers: { cookie: ann.cookie } })).json() as { text: string; html: string };
    expect(view.text).toMatch(/^sure thing\n\nOn .+, Sam <sam@far\.test> wrote:\n> noon\?/);
    expect(view.html).toContain('<blockquote');
    expect(view.html).toContain('noon?');
    expect(headerBlock(raw)).toMatch(/^In-Reply-To: <lunch@far\.test>$/m);
  });

  it("forwards a message with its text and attachments, and refuses another user's message (404)", async () => {
    const original = Buffer.from(
      'From: Sam <sam@far.test>\r\nTo: ann@m.test\r\nCc: undisclosed-recipients:;\r\nSubject: The plan\r\nMessage-ID: <fwd@far.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n' +
        '--b1\r\nContent-Type: text/plain\r\n\r\nsee the attached plan\r\n' +
        '--b1\r\nContent-Type: text/csv; name=plan.csv\r\nContent-Disposition: attachment; filename=plan.csv\r\n\r\nstep,when\r\n1,noon\r\n--b1--\r\n',
    );
    const originalId = (await ingestMessage({ db: t.store.db, events: { publish: async () => undefined } }, { userId: ann.userId, mailbox: { specialUse: '\\Inbox' }, content: { raw: original }, summary: await summarizeMessage(original) })).messageId;
    const body = await sendOk(ann, { to: ['ben@m.test'], subject: 'Fwd: The plan', text: 'FYI', forwardOf: originalId });
    const benCopy = (await filed(ben.userId, 'Fwd: The plan'))[0]!;
    const view = (await t.app.inject({ method: 'GET', url: `/api/messages/${benCopy.id}`, headers: { cookie: ben.cookie } })).json() as { text: string; attachments: Array<{ filename: string; index: number }> };
    expect(view.text).toMatch(/^FYI\n\n---------- Forwarded message ----------\nFrom: Sam <sam@far\.test>\n/);
    expect(view.text).toContain('Subject: The plan');
    // A group without members is named, with no empty address.
    expect(view.text).toContain('\nCc: undisclosed-recipients\n');
    expect(view.text).toContain('see the attached plan');
    expect(view.attachments.map((a) => a.filename)).toEqual(['plan.csv']);
    const file = await t.app.inject({ method: 'GET', url: `/api/messages/${benCopy.id}/attachments/0`, headers: { cookie: ben.cookie } });
    expect(file.body).toBe('step,when\r\n1,noon');
    expect(body.deliveredLocally).toEqual(['ben@m.test']);
    // Ben cannot forward Ann's message.
    const res = await send(ben, { to: ['ann@m.test'], subject: 'Fwd: stolen', text: 'x', forwardOf: originalId });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('message.not_found');
  });

  it('deletes the draft it was written in once the message is filed', async () => {
    const draft = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: ann.headers, payload: { to: ['ben@m.test'], subject: 'from draft' } });
    expect(draft.statusCode).toBe(201);
    const draftId = (draft.json() as { id: number }).id;
    await sendOk(ann, { to: ['ben@m.test'], subject: 'from draft', text: 'done', draftId });
    expect((await filed(ann.userId, 'from draft')).map((c) => c.specialUse)).toEqual(['\\Sent']);
  });

  it('attaches the sender’s own uploads', async () => {
    const upload = await uploadOk(ann, 'plan.txt', 'the plan');
    const body = await sendOk(ann, { to: ['ben@m.test'], subject: 'with file', text: 'see attached', attachments: [upload] });
    expect(await rawOf(ann, body.messageId)).toContain('filename=plan.txt');
  });

  it("answers 404 when user B sends user A's upload as an attachment, and files nothing", async () => {
    const upload = await uploadOk(ann, 'secret.txt', 'ann only');
    const res = await send(ben, { to: ['ann@m.test'], subject: 'stolen', text: 'x', attachments: [upload] });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('upload.not_found');
    expect(await filed(ben.userId, 'stolen')).toEqual([]);
    expect(await filed(ann.userId, 'stolen')).toEqual([]);
  });

  it('answers 400 without any recipient', async () => {
    const res = await send(ann, { to: [], subject: 'nobody', text: 'x' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('send.no_recipients');
  });

  it('answers 400 naming an invalid address, and files nothing', async () => {
    const res = await send(ann, { to: ['ben@m.test'], cc: ['not an address'], subject: 'bad address', text: 'x' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('send.invalid_address');
    expect(res.json().error.message).toContain('not an address');
    expect(await filed(ann.userId, 'bad address')).toEqual([]);
  });

  it('answers 400 for an unknown mailbox on a local domain', async () => {
    const res = await send(ann, { to: ['nobody@m.test'], subject: 'unknown', text: 'x' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('send.unknown_recipient');
  });

  it('answers 429 send.too_many_recipients beyond 100 distinct recipients', async () => {
    const to = Array.from({ length: 101 }, (_, i) => `r${i}@far.test`);
    const res = await send(ann, { to, subject: 'too many', text: 'x' });
    expect(res.statusCode).toBe(429);
    expect(res.json().error.message).toMatch(/at most 100 recipients/);
    expect(res.json().error.code).toBe('send.too_many_recipients');
  });

  it('answers 400 for a body missing "to"', async () => {
    const res = await send(ann, { subject: 'no to field', text: 'x' });
    expect(res.statusCode).toBe(400);
  });

  it('requires the CSRF header (403) and a session (401)', async () => {
    const noCsrf = await send(ann, { to: ['ben@m.test'], subject: 'csrf', text: 'x' }, { cookie: ann.cookie });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json().error.code).toBe('auth.csrf');
    const noSession = await send(ann, { to: ['ben@m.test'], subject: 'csrf', text: 'x' }, {});
    expect(noSession.statusCode).toBe(401);
    expect(await filed(ben.userId, 'csrf')).toEqual([]);
  });

  it('answers 429 send.rate_limited with Retry-After once the user has sent the hourly maximum, and files nothing', async () => {
    const limiter = createRateLimiter(t.redis);
    for (let i = 0; i < SENT_MESSAGES_PER_USER.max; i++) await limiter.hit(SENT_MESSAGES_PER_USER, String(carl.userId));
    const res = await send(carl, { to: ['ann@m.test'], subject: 'over the limit', text: 'x' });
    expect(res.statusCode).toBe(429);
    expect(res.json().error.code).toBe('send.rate_limited');
    expect(res.json().error.message).toMatch(/at most 200 messages per hour/);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(await filed(carl.userId, 'over the limit')).toEqual([]);
    expect(await filed(ann.userId, 'over the limit')).toEqual([]);
    // Other users are not affected.
    await sendOk(ben, { to: ['ann@m.test'], subject: 'not limited', text: 'x' });
  });

  it('answers 429 once the recipients of the last hour would pass the hourly maximum', async () => {
    await t.accounts.addUser({ address: 'dora@m.test', password: 'dora password' });
    const dora = await t.login('dora@m.test', 'dora password');
  await sendAtOnce(dora);
    const limiter = createRateLimiter(t.redis);
    await limiter.hit(SENT_RECIPIENTS_PER_USER, String(dora.userId), SENT_RECIPIENTS_PER_USER.max - 2);
    await sendOk(dora, { to: ['ann@m.test', 'ben@m.test'], subject: 'exactly at the limit', text: 'x' });
    const res = await send(dora, { to: ['ann@m.test'], subject: 'one too many', text: 'x' });
    expect(res.statusCode).toBe(429);
    expect(res.json().error.message).toMatch(/send to at most 2000 recipients per hour/);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(await filed(ann.userId, 'one too many')).toEqual([]);
  });
});
