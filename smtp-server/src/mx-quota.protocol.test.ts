import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService, createInboundQueue, ingestMessage, silentLogger, summarizeMessage, type InboundQueue } from '@mailyard/core';
import { connect, type SmtpTranscript } from '../../tests/helpers/smtp-transcript.js';
import { createSmtpTestEnv, type SmtpTestEnv } from '../../tests/helpers/smtp-test-env.js';
import { buildSmtpApp, type SmtpApp } from './app.js';
import { testSecrets } from '../../tests/helpers/secrets.js';

/**
 * RCPT on the MX against the real store: a user at or over their storage quota gets
 * `452 4.2.2 Mailbox full` (the sender retries later), a user with room gets 250.
 */

const HOST = '127.0.0.1';
let env: SmtpTestEnv;
let inbound: InboundQueue;
let app: SmtpApp;
let port: number;

async function session(): Promise<SmtpTranscript> {
  const client = await connect(HOST, port);
  env.clients.push(client);
  expect(client.greeting.code).toBe(220);
  expect((await client.cmd('EHLO client.b.test')).code).toBe(250);
  expect((await client.cmd('MAIL FROM:<sender@b.test>')).code).toBe(250);
  return client;
}

/** A user holding one message of mail, with a quota of `quotaOf(used)` bytes. */
async function userWithQuota(address: string, quotaOf: (used: number) => number): Promise<void> {
  const user = await createAccountsService({ db: env.store.db, secrets: testSecrets }).addUser({ address, password: 'correct horse battery' });
  const raw = Buffer.from(`From: s@b.test\r\nTo: ${address}\r\nSubject: hello\r\n\r\nsome mail\r\n`);
  await ingestMessage({ db: env.store.db, events: { publish: async () => undefined } }, { userId: user.id, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) });
  const { size: used } = await env.store.db.selectFrom('messages').select('size').where('user_id', '=', user.id).executeTakeFirstOrThrow();
  await env.store.db.updateTable('users').set({ quota_bytes: quotaOf(used) }).where('id', '=', user.id).execute();
}

beforeAll(async () => {
  env = await createSmtpTestEnv('mx.a.test');
  await createAccountsService({ db: env.store.db, secrets: testSecrets }).addDomain('a.test');
  await userWithQuota('full@a.test', (used) => used);
  await userWithQuota('over@a.test', (used) => used - 1);
  await userWithQuota('roomy@a.test', (used) => used + 1024 * 1024);
  await createAccountsService({ db: env.store.db, secrets: testSecrets }).addAlias('team@a.test', 'full@a.test');
  inbound = createInboundQueue(env.redis);
  app = buildSmtpApp(
    { db: env.store.db, enqueueInbound: (ids) => inbound.enqueue(ids), log: silentLogger() },
    { hostname: 'mx.a.test', tls: env.tls, limits: { maxMessageSize: 10_000, maxRecipients: 100, maxMessagesPerConnection: 100, maxConnectionsPerIp: 100, maxMessagesPerIpPerMinute: 1_000 } },
  );
  port = await app.listen(0, HOST);
});

afterAll(async () => {
  await env?.closeClients();
  await app?.close();
  await inbound?.close();
  await env?.close();
});

describe('RCPT and the recipient’s quota', () => {
  it('answers 452 4.2.2 Mailbox full for a user at or over their quota, also through an alias', async () => {
    const client = await session();
    for (const rcpt of ['full@a.test', 'over@a.test', 'team@a.test']) {
      const reply = await client.cmd(`RCPT TO:<${rcpt}>`);
      expect({ rcpt, code: reply.code, enhanced: reply.enhanced }).toEqual({ rcpt, code: 452, enhanced: '4.2.2' });
      expect(reply.text).toContain('Mailbox full');
    }
  });

  it('answers 250 for a user under their quota', async () => {
    const client = await session();
    expect(await client.cmd('RCPT TO:<roomy@a.test>')).toMatchObject({ code: 250 });
  });
});
