import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@mailyard/core';
import { fakeRecipients, fakeSpool, fakeTrust, tempTlsMaterial } from '../../../tests/helpers/smtp-fakes.js';
import { connect, type SmtpTranscript } from '../../../tests/helpers/smtp-transcript.js';
import { buildMxListener, type MxListener } from '../app.js';
import type { MxLimits } from './mx-session.handlers.js';

/**
 * The MX listener's replies with its handlers on in-memory fakes of core's services: no
 * PostgreSQL, no Redis. The same listener runs on the real store in mx.protocol.test.ts.
 */

const HOST = '127.0.0.1';
const LIMITS: MxLimits = { maxMessageSize: 2_000, maxRecipients: 3, maxMessagesPerConnection: 2, maxConnectionsPerIp: 100, maxMessagesPerIpPerMinute: 1_000, maxClients: 100, maxDataPerIp: 10 };

let tls: Awaited<ReturnType<typeof tempTlsMaterial>>;
const listeners: MxListener[] = [];
const clients: SmtpTranscript[] = [];

beforeAll(async () => {
  tls = await tempTlsMaterial('mx.a.test');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()));
  tls?.remove();
});

/** A listener on fresh fakes, and a client that has said EHLO. */
async function start(limits: Partial<MxLimits> = {}, spillDir?: string) {
  const recipients = fakeRecipients({ 'alice@a.test': 1, 'bob@a.test': 2, 'carol@a.test': 3, 'dan@a.test': 4 });
  const spool = fakeSpool();
  const trust = fakeTrust();
  const listener = buildMxListener({ services: { recipients, spool, trust }, log: silentLogger() }, { hostname: 'mx.a.test', tls, limits: { ...LIMITS, ...limits }, spillDir });
  listeners.push(listener);
  const port = await listener.listen(0, HOST);
  const open = async () => {
    const client = await connect(HOST, port);
    clients.push(client);
    return client;
  };
  const client = await open();
  expect(client.greeting.code).toBe(220);
  expect((await client.cmd('EHLO client.b.test')).code).toBe(250);
  return { client, recipients, spool, trust, open };
}

const message = (subject: string, body = 'hello') => Buffer.from(`From: s@b.test\r\nTo: alice@a.test\r\nSubject: ${subject}\r\n\r\n${body}\r\n`);

describe('MX transcripts on in-memory services', () => {
  it('accepts mail for a local user with 250 and the spool id, and spools the envelope and a Received trace', async () => {
    const { client, spool } = await start();
    const reply = await client.sendMail('s@b.test', ['ALICE@a.test'], message('hi'));
    expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0', text: '2.0.0 Ok: queued as S1' });
    expect(spool.written).toHaveLength(1);
    expect(spool.written[0]).toMatchObject({ mailFrom: 's@b.test', rcptTo: ['alice@a.test'], remoteIp: HOST, helo: 'client.b.test', tls: false });
    expect(spool.written[0]!.traceHeaders).toMatch(/^Authentication-Results: mx\.a\.test;\r\n dmarc=pass header\.from=b\.test\r\nReceived: from client\.b\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.a\.test \(Mailyard\) with ESMTP\r\n\tfor <alice@a\.test>;/);
    expect(spool.written[0]!.raw.toString()).toContain('Subject: hi');
  });

  it('checks the message at the end of DATA with the client, HELO, MAIL FROM and recipient domains, and spools the results', async () => {
    const { client, spool, trust } = await start();
    expect((await client.sendMail('s@b.test', ['alice@a.test', 'bob@a.test'], message('checked'))).code).toBe(250);
    expect(trust.asked).toHaveLength(1);
    expect(trust.asked[0]).toMatchObject({ ip: HOST, helo: 'client.b.test', mailFrom: 's@b.test', rcptDomains: ['a.test'] });
    expect(trust.asked[0]!.raw.toString()).toContain('Subject: checked');
    expect(spool.written[0]).toMatchObject({ verdict: 'inbox', authentication: { dmarc: { result: 'pass', domain: 'b.test', policy: 'reject' } } });
  });

  it('refuses with 550 5.7.1 and spools nothing when the verdict is reject (DMARC p=reject, own domain forged)', async () => {
    const { client, spool, trust } = await start();
    trust.next = { action: 'reject', reason: 'DMARC policy reject of b.test: fail' };
    const reply = await client.sendMail('s@b.test', ['alice@a.test'], message('forged'));
    expect(reply).toMatchObject({ code: 550, enhanced: '5.7.1' });
    expect(reply.text).toContain('DMARC policy reject of b.test: fail');
    expect(spool.written).toHaveLength(0);
    // The session goes on: the next message is checked afresh.
    trust.next = null;
    expect((await client.sendMail('s@b.test', ['alice@a.test'], message('genuine'))).code).toBe(250);
    expect(spool.written).toHaveLength(1);
  });

  it('accepts a Junk verdict with 250 and spools it marked for Junk', async () => {
    const { client, spool, trust } = await start();
    trust.next = { action: 'junk', reason: 'DMARC policy quarantine of b.test: fail' };
    expect((await client.sendMail('s@b.test', ['alice@a.test'], message('quarantined'))).code).toBe(250);
    expect(spool.written[0]).toMatchObject({ verdict: 'junk' });
  });

  it('answers 451 4.3.0 and spools nothing when the checks cannot run (fail closed)', async () => {
    const { client, spool, trust } = await start();
    trust.failing = true;
    expect(await client.sendMail('s@b.test', ['alice@a.test'], message('unchecked'))).toMatchObject({ code: 451, enhanced: '4.3.0' });
    expect(spool.written).toHaveLength(0);
  });

  it('refuses an unknown local user with 550 5.1.1, another domain with 550 5.7.1 (no relay), a domain that can never be a mail domain with 553 5.1.3', async () => {
    const { client, recipients } = await start();
    expect(await client.cmd('MAIL FROM:<s@b.test>')).toMatchObject({ code: 250, enhanced: '2.1.0' });
    expect(await client.cmd('RCPT TO:<nobody@a.test>')).toMatchObject({ code: 550, enhanced: '5.1.1' });
    expect(await client.cmd('RCPT TO:<someone@elsewhere.test>')).toMatchObject({ code: 550, enhanced: '5.7.1' });
    expect(await client.cmd('RCPT TO:<alice@localhost>')).toMatchObject({ code: 553, enhanced: '5.1.3' });
    expect(await client.cmd('RCPT TO:<bob@a.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(recipients.asked).toEqual(['nobody@a.test', 'someone@elsewhere.test', 'alice@localhost', 'bob@a.test']);
  });

  it('answers 451 4.3.0 at RCPT when the recipient lookup fails (fail closed)', async () => {
    const { client, recipients } = await start();
    recipients.failing = true;
    expect(await client.cmd('MAIL FROM:<s@b.test>')).toMatchObject({ code: 250 });
    expect(await client.cmd('RCPT TO:<alice@a.test>')).toMatchObject({ code: 451, enhanced: '4.3.0' });
  });

  it('answers the end of DATA with 451 4.3.0, never 250, when the spool write fails', async () => {
    const { client, spool } = await start();
    spool.failing = true;
    expect(await client.sendMail('s@b.test', ['alice@a.test'], message('lost'))).toMatchObject({ code: 451, enhanced: '4.3.0' });
    expect(spool.written).toEqual([]);
  });

  it('refuses recipients over the limit with 452 4.5.3, a message over the size limit with 552 5.3.4, and messages over the per-connection limit with 451 4.7.0', async () => {
    const { client, spool } = await start();
    expect(await client.cmd('MAIL FROM:<s@b.test>')).toMatchObject({ code: 250 });
    for (const rcpt of ['alice@a.test', 'bob@a.test', 'carol@a.test']) expect((await client.cmd(`RCPT TO:<${rcpt}>`)).code).toBe(250);
    expect(await client.cmd('RCPT TO:<dan@a.test>')).toMatchObject({ code: 452, enhanced: '4.5.3' });
    expect((await client.cmd('DATA')).code).toBe(354);
    expect(await client.data(message('big', 'x'.repeat(3_000)))).toMatchObject({ code: 552, enhanced: '5.3.4' });
    for (const subject of ['one', 'two']) expect(await client.sendMail('s@b.test', ['bob@a.test'], message(subject))).toMatchObject({ code: 250 });
    expect(await client.cmd('MAIL FROM:<s@b.test>')).toMatchObject({ code: 451, enhanced: '4.7.0' });
    expect(spool.written.map((w) => w.rcptTo)).toEqual([['bob@a.test'], ['bob@a.test']]);
  });

  it('refuses a message with more than 50 Received fields in its header with 554 5.4.6 (a loop) and spools nothing; accepts 50', async () => {
    const { client, spool } = await start({ maxMessageSize: 20_000 });
    const withReceived = (n: number) => Buffer.concat([Buffer.from('Received: from x.test by y.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n'.repeat(n)), message(`hops ${n}`)]);
    expect(await client.sendMail('s@b.test', ['alice@a.test'], withReceived(51))).toMatchObject({ code: 554, enhanced: '5.4.6' });
    expect(spool.written).toEqual([]);
    expect(await client.sendMail('s@b.test', ['alice@a.test'], withReceived(50))).toMatchObject({ code: 250 });
    expect(spool.written).toHaveLength(1);
  });

  it('refuses a connection over the per-IP limit with 421 4.7.0', async () => {
    const { open } = await start({ maxConnectionsPerIp: 1 });
    const second = await open();
    expect(second.greeting).toMatchObject({ code: 421, enhanced: '4.7.0' });
  });

  it('greets a connection over SMTP_MAX_CLIENTS (all addresses together) with 421 4.7.0 and closes it; the others go on, and a freed place is taken again', async () => {
    const { client, open } = await start({ maxClients: 2 });
    const second = await open();
    expect(second.greeting.code).toBe(220);
    const third = await open();
    expect(third.greeting).toMatchObject({ code: 421, enhanced: '4.7.0' });
    expect(third.greeting.text).toContain('too many connections');
    await third.closed;
    expect(await client.sendMail('s@b.test', ['alice@a.test'], message('still served'))).toMatchObject({ code: 250 });
    await second.close();
    // The server notices the close a moment later: a new connection is greeted once it has.
    const deadline = Date.now() + 10_000;
    let again = await open();
    while (again.greeting.code !== 220 && Date.now() < deadline) again = await open();
    expect(again.greeting.code).toBe(220);
  });

  it('answers DATA with 451 4.7.1 while the address has SMTP_MAX_DATA_PER_IP transactions in DATA; the connection stays usable and DATA is taken once one ends', async () => {
    const { client, open, spool } = await start({ maxDataPerIp: 1 });
    expect((await client.cmd('MAIL FROM:<s@b.test>')).code).toBe(250);
    expect((await client.cmd('RCPT TO:<alice@a.test>')).code).toBe(250);
    expect((await client.cmd('DATA')).code).toBe(354);

    const other = await open();
    expect((await other.cmd('EHLO other.b.test')).code).toBe(250);
    expect((await other.cmd('MAIL FROM:<t@b.test>')).code).toBe(250);
    expect((await other.cmd('RCPT TO:<bob@a.test>')).code).toBe(250);
    const refused = await other.cmd('DATA');
    expect(refused).toMatchObject({ code: 451, enhanced: '4.7.1' });
    expect(other.isOpen).toBe(true);
    expect((await other.cmd('NOOP')).code).toBe(250);

    expect(await client.data(message('first'))).toMatchObject({ code: 250 });
    expect((await other.cmd('DATA')).code).toBe(354);
    expect(await other.data(message('second'))).toMatchObject({ code: 250 });
    expect(spool.written.map((w) => w.rcptTo)).toEqual([['alice@a.test'], ['bob@a.test']]);
  });

  it('counts a transaction in DATA as ended when its client goes away mid-message', async () => {
    const { client, open } = await start({ maxDataPerIp: 1 });
    expect((await client.cmd('MAIL FROM:<s@b.test>')).code).toBe(250);
    expect((await client.cmd('RCPT TO:<alice@a.test>')).code).toBe(250);
    expect((await client.cmd('DATA')).code).toBe(354);
    client.send('Subject: never finished');
    await client.close();

    const other = await open();
    expect((await other.cmd('EHLO other.b.test')).code).toBe(250);
    expect((await other.cmd('MAIL FROM:<t@b.test>')).code).toBe(250);
    expect((await other.cmd('RCPT TO:<bob@a.test>')).code).toBe(250);
    // The server sees the close a moment later; until then DATA may still be refused (and retried).
    const deadline = Date.now() + 10_000;
    let reply = await other.cmd('DATA');
    while (reply.code === 451 && Date.now() < deadline) reply = await other.cmd('DATA');
    expect(reply.code).toBe(354);
    expect(await other.data(message('after'))).toMatchObject({ code: 250 });
  });

  it('answers 451 4.3.0, never 250, when a large message cannot be written to its temp folder; the connection goes on', async () => {
    const spillDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-mx-spill-'));
    const { client, spool } = await start({ maxMessageSize: 20_000, spillThresholdBytes: 1_000 }, spillDir);
    fs.rmSync(spillDir, { recursive: true });
    expect(await client.sendMail('s@b.test', ['alice@a.test'], message('large', 'x'.repeat(5_000)))).toMatchObject({ code: 451, enhanced: '4.3.0' });
    expect(await client.sendMail('s@b.test', ['alice@a.test'], message('small'))).toMatchObject({ code: 250 });
    expect(spool.written.map((w) => w.raw.toString().includes('Subject: small'))).toEqual([true]);
  });

  it('loads one large message at a time with maxLargeMessagesLoaded 1: the next is checked once the one before is committed, while small ones pass', async () => {
    const spillDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-mx-spill-'));
    const { client, open, spool, trust } = await start({ maxMessageSize: 50_000, spillThresholdBytes: 1_000, maxLargeMessagesLoaded: 1 }, spillDir);
    let commitFirst!: () => void;
    const firstMayCommit = new Promise<void>((resolve) => (commitFirst = resolve));
    const write = spool.write.bind(spool);
    let writes = 0;
    spool.write = async (item) => {
      if (++writes === 1) await firstMayCommit;
      return write(item);
    };
    const until = async (what: string, check: () => boolean) => {
      const deadline = Date.now() + 10_000;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const second = await open();
    const third = await open();
    for (const c of [second, third]) expect((await c.cmd('EHLO other.b.test')).code).toBe(250);

    const firstReply = client.sendMail('s@b.test', ['alice@a.test'], message('large one', 'x'.repeat(20_000)));
    await until('the first large message is checked', () => trust.asked.length === 1);
    const secondRaw = message('large two', 'y'.repeat(21_000));
    const secondReply = second.sendMail('s@b.test', ['bob@a.test'], secondRaw);
    await until('the second large message is received in full', () => fs.readdirSync(spillDir).some((f) => fs.statSync(path.join(spillDir, f)).size === secondRaw.length));
    // A small message is not held up by the large ones; the second large one still waits its turn.
    expect(await third.sendMail('s@b.test', ['carol@a.test'], message('small'))).toMatchObject({ code: 250 });
    expect(trust.asked.map((t) => /Subject: ([^\r]*)/.exec(t.raw.toString())![1])).toEqual(['large one', 'small']);

    commitFirst();
    expect(await firstReply).toMatchObject({ code: 250 });
    expect(await secondReply).toMatchObject({ code: 250 });
    expect(spool.written.map((w) => w.rcptTo)).toEqual([['carol@a.test'], ['alice@a.test'], ['bob@a.test']]);
    fs.rmSync(spillDir, { recursive: true, force: true });
  });
});
