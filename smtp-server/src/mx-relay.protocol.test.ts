import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService, silentLogger, type TlsMaterial } from '@mailyard/core';
import { tempTlsMaterial } from '../../tests/helpers/smtp-fakes.js';
import { connect, type SmtpTranscript } from '../../tests/helpers/smtp-transcript.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { buildSmtpApp, type SmtpApp } from './app.js';
import { testSecrets } from '../../tests/helpers/secrets.js';

/**
 * Relay tricks and SMTP smuggling against the MX listener on the real store, with a catch-all on
 * the local domain (the setting that makes odd local parts land somewhere): the percent hack,
 * source routes, a trailing-dot domain and quoted local parts never relay and are never accepted
 * for a foreign domain; a bare-LF "\n.\n" does not end DATA.
 */

const HOST = '127.0.0.1';
let store: TestStore;
let tls: TlsMaterial & { remove(): void };
let app: SmtpApp;
let port: number;
const enqueued: number[] = [];
const clients: SmtpTranscript[] = [];

beforeAll(async () => {
  store = await createTestStore();
  tls = await tempTlsMaterial('mx.a.test');
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('a.test');
  await accounts.addUser({ address: 'alice@a.test', password: 'alice password' });
  await accounts.addAlias('@a.test', 'alice@a.test');
  app = buildSmtpApp(
    { db: store.db, enqueueInbound: async (ids) => void enqueued.push(...ids), log: silentLogger() },
    {
      hostname: 'mx.a.test',
      tls,
      limits: { maxMessageSize: 100_000, maxRecipients: 10, maxMessagesPerConnection: 100, maxConnectionsPerIp: 100, maxMessagesPerIpPerMinute: 1_000, maxClients: 100, maxDataPerIp: 10 },
    },
  );
  port = await app.listen(0, HOST);
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await app?.close();
  tls?.remove();
  await store?.drop();
});

async function session(): Promise<SmtpTranscript> {
  const client = await connect(HOST, port);
  clients.push(client);
  expect(client.greeting.code).toBe(220);
  expect((await client.cmd('EHLO client.b.test')).code).toBe(250);
  expect((await client.cmd('MAIL FROM:<sender@b.test>')).code).toBe(250);
  return client;
}

async function spoolRows() {
  return store.db.selectFrom('spool').select(['id', 'rcpt_to']).orderBy('id').execute();
}

const message = (subject: string) => Buffer.from(`From: sender@b.test\r\nTo: x@a.test\r\nSubject: ${subject}\r\n\r\nhello\r\n`);

describe('relay tricks under a catch-all', () => {
  it.each([
    ['the percent hack to a foreign domain', '<bob%b.test@c.test>'],
    ['a source route ending in a foreign domain', '<@a.test:bob@b.test>'],
    ['a source route through two hosts to a foreign domain', '<@a.test,@mx.a.test:bob@b.test>'],
    ['a trailing-dot foreign domain', '<bob@b.test.>'],
    ['a quoted local part holding a local address, at a foreign domain', '<"alice@a.test"@b.test>'],
    ['a quoted local part at a foreign domain', '<"bob"@b.test>'],
    ['a percent hack naming our domain, at a foreign one', '<alice%a.test@b.test>'],
  ])('refuses %s (%s) with a 5xx, and nothing is spooled', async (_what, rcpt) => {
    const before = await spoolRows();
    const client = await session();
    const reply = await client.cmd(`RCPT TO:${rcpt}`);
    expect(reply.code, reply.text).toBeGreaterThanOrEqual(500);
    expect(reply.code, reply.text).toBeLessThan(600);
    expect((await client.cmd('DATA')).code).toBe(503);
    expect(await spoolRows()).toEqual(before);
  });

  it.each([
    ['the percent hack at our domain', '<bob%b.test@a.test>', 'local'],
    ['a source route ending at our domain', '<@b.test:alice@a.test>', 'local'],
    ['a trailing-dot local domain', '<alice@a.test.>', 'refused'],
    ['a quoted local part holding a foreign address, at our domain', '<"bob@b.test"@a.test>', 'refused'],
    ['a quoted local part with a space, at our domain', '<"bob b.test"@a.test>', 'refused'],
  ])('takes %s (%s) only as local mail (here: %s), never for a recipient outside a.test or an outbound delivery', async (_what, rcpt, outcome) => {
    const before = (await spoolRows()).length;
    const client = await session();
    const reply = await client.cmd(`RCPT TO:${rcpt}`);
    if (outcome === 'refused') {
      expect(reply).toMatchObject({ code: 501, enhanced: '5.1.3' });
      return;
    }
    expect(reply.code, reply.text).toBe(250);
    expect((await client.cmd('DATA')).code).toBe(354);
    expect((await client.data(message(rcpt))).code).toBe(250);
    const rows = await spoolRows();
    expect(rows).toHaveLength(before + 1);
    for (const address of rows.at(-1)!.rcpt_to) expect(address).toMatch(/@a\.test$/);
    expect(await store.db.selectFrom('outbound_messages').select('id').execute()).toEqual([]);
  });
});

describe('SMTP smuggling', () => {
  it.each([
    ['a bare-LF end "\\n.\\n"', '\n.\n'],
    ['"\\r\\n.\\n"', '\r\n.\n'],
    ['"\\n.\\r\\n"', '\n.\r\n'],
    ['a bare-CR end "\\r.\\r"', '\r.\r'],
  ])('does not end DATA at %s: what follows is message text, not a second transaction', async (_what, fakeEnd) => {
    const before = (await spoolRows()).length;
    const client = await session();
    expect((await client.cmd('RCPT TO:<alice@a.test>')).code).toBe(250);
    expect((await client.cmd('DATA')).code).toBe(354);
    const smuggled = `MAIL FROM:<ceo@a.test>\r\nRCPT TO:<alice@a.test>\r\nDATA\r\nFrom: ceo@a.test\r\nSubject: smuggled\r\n\r\npay now\r\n`;
    client.sendRaw(Buffer.from(`From: sender@b.test\r\nSubject: outer\r\n\r\nfirst part${fakeEnd}${smuggled}.\r\nNOOP\r\n`));
    const end = await client.reply();
    expect(end.code, end.text).toBe(250);
    // The very next reply is the NOOP's: none of the smuggled commands ran.
    expect((await client.reply()).code).toBe(250);
    const rows = await spoolRows();
    expect(rows).toHaveLength(before + 1);
    const blob = await store.db
      .selectFrom('spool')
      .innerJoin('blobs', 'blobs.hash', 'spool.blob_hash')
      .select('blobs.data')
      .where('spool.id', '=', rows.at(-1)!.id)
      .executeTakeFirstOrThrow();
    const stored = Buffer.from(blob.data).toString('latin1');
    expect(stored).toContain('Subject: outer');
    expect(stored).toContain('Subject: smuggled');
  });
});
