import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError, SenderNotAllowedError, SendRateLimitedError, silentLogger } from '@mailyard/core';
import { fakeAuth, fakeRecipients, fakeSenders, fakeSubmit, tempTlsMaterial } from '../../../tests/helpers/smtp-fakes.js';
import { connect, type SmtpTranscript } from '../../../tests/helpers/smtp-transcript.js';
import { buildSubmissionListeners, type SubmissionApp } from '../app.js';

/**
 * The submission listeners' replies with their handlers on in-memory fakes of core's services:
 * no PostgreSQL, no Redis. The same listeners run on the real store in submission.protocol.test.ts.
 */

const HOST = '127.0.0.1';
const ALICE = { userId: 1, address: 'alice@a.test', password: 'alice password' };

let tls: Awaited<ReturnType<typeof tempTlsMaterial>>;
const apps: SubmissionApp[] = [];
const clients: SmtpTranscript[] = [];

beforeAll(async () => {
  tls = await tempTlsMaterial('mail.a.test');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  tls?.remove();
});

const plain = (user: string, password: string, authzid = '') => Buffer.from(`${authzid}\0${user}\0${password}`).toString('base64');
const message = (from: string, subject: string) => Buffer.from(`From: ${from}\r\nTo: bob@a.test\r\nSubject: ${subject}\r\n\r\nhello\r\n`);

/** Listeners on fresh fakes; `session()` opens a 587 client that has said EHLO (and STARTTLS unless told not to). */
async function start() {
  const services = {
    auth: fakeAuth([ALICE]),
    senders: fakeSenders({ [ALICE.userId]: [ALICE.address, 'sales@a.test'] }),
    recipients: fakeRecipients({ 'alice@a.test': 1, 'bob@a.test': 2 }),
    ...fakeSubmit(),
  };
  const app = buildSubmissionListeners({ services, log: silentLogger() }, { hostname: 'mail.a.test', tls, limits: { maxMessageSize: 10_000, maxRecipients: 10, maxConnectionsPerIp: 100 } });
  apps.push(app);
  const ports = await app.listen({ submission: 0, smtps: 0 }, HOST);
  const session = async (options: { tls?: boolean; auth?: boolean } = {}) => {
    const client = await connect(HOST, ports.submission);
    clients.push(client);
    expect(client.greeting.code).toBe(220);
    expect((await client.cmd('EHLO client.a.test')).code).toBe(250);
    if (options.tls === false) return client;
    expect((await client.startTls()).code).toBe(220);
    expect((await client.cmd('EHLO client.a.test')).code).toBe(250);
    if (options.auth) expect(await client.cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password)}`)).toMatchObject({ code: 235, enhanced: '2.7.0' });
    return client;
  };
  return { services, session };
}

describe('submission transcripts on in-memory services: AUTH', () => {
  it('refuses AUTH before STARTTLS with 538 5.7.11 without asking sign-in', async () => {
    const { services, session } = await start();
    const client = await session({ tls: false });
    expect(await client.cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password)}`)).toMatchObject({ code: 538, enhanced: '5.7.11' });
    expect(services.auth.calls).toEqual([]);
  });

  it('refuses MAIL before AUTH with 530 5.7.0', async () => {
    const { session } = await start();
    expect(await (await session()).cmd(`MAIL FROM:<${ALICE.address}>`)).toMatchObject({ code: 530, enhanced: '5.7.0' });
  });

  it('hands the typed name, password, client IP and mechanism to sign-in, and answers ok with 235 2.7.0', async () => {
    const { services, session } = await start();
    await session({ auth: true });
    expect(services.auth.calls).toEqual([{ username: ALICE.address, password: ALICE.password, ip: HOST, details: { method: 'PLAIN' } }]);
  });

  it('answers invalid credentials with 535 5.7.8', async () => {
    const { session } = await start();
    expect(await (await session()).cmd(`AUTH PLAIN ${plain(ALICE.address, 'wrong')}`)).toMatchObject({ code: 535, enhanced: '5.7.8' });
  });

  it('answers limited with 454 4.7.0', async () => {
    const { services, session } = await start();
    services.auth.next = { kind: 'limited', by: 'account', retryAfterSeconds: 60 };
    expect(await (await session()).cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password)}`)).toMatchObject({ code: 454, enhanced: '4.7.0' });
  });

  it('answers 454 4.7.0 (fail closed) when sign-in itself fails', async () => {
    const { services, session } = await start();
    services.auth.next = new Error('redis unavailable');
    expect(await (await session()).cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password)}`)).toMatchObject({ code: 454, enhanced: '4.7.0' });
  });

  it('refuses PLAIN with an authorization identity other than the user (535 5.7.8) without asking sign-in', async () => {
    const { services, session } = await start();
    expect(await (await session()).cmd(`AUTH PLAIN ${plain(ALICE.address, ALICE.password, 'bob@a.test')}`)).toMatchObject({ code: 535, enhanced: '5.7.8' });
    expect(services.auth.calls).toEqual([]);
  });
});

describe('submission transcripts on in-memory services: envelope and data', () => {
  it("refuses a sender that is not the user's with 553 5.7.1 and the null sender with 553 5.7.1; accepts the user's alias", async () => {
    const { session } = await start();
    const client = await session({ auth: true });
    expect(await client.cmd('MAIL FROM:<ceo@a.test>')).toMatchObject({ code: 553, enhanced: '5.7.1' });
    expect(await client.cmd('MAIL FROM:<>')).toMatchObject({ code: 553, enhanced: '5.7.1' });
    expect(await client.cmd('MAIL FROM:<sales@a.test>')).toMatchObject({ code: 250, enhanced: '2.1.0' });
  });

  it('answers MAIL with 451 4.3.0 when the sender check fails', async () => {
    const { services, session } = await start();
    services.senders.failing = true;
    expect(await (await session({ auth: true })).cmd(`MAIL FROM:<${ALICE.address}>`)).toMatchObject({ code: 451, enhanced: '4.3.0' });
  });

  it('relays to remote recipients, refuses an unknown local one with 550 5.1.1, and answers 451 4.3.0 when the lookup fails', async () => {
    const { services, session } = await start();
    const client = await session({ auth: true });
    expect((await client.cmd(`MAIL FROM:<${ALICE.address}>`)).code).toBe(250);
    expect(await client.cmd('RCPT TO:<carol@remote.test>')).toMatchObject({ code: 250, enhanced: '2.1.5' });
    expect(await client.cmd('RCPT TO:<nobody@a.test>')).toMatchObject({ code: 550, enhanced: '5.1.1' });
    services.recipients.failing = true;
    expect(await client.cmd('RCPT TO:<bob@a.test>')).toMatchObject({ code: 451, enhanced: '4.3.0' });
  });

  it('hands the message to the send path with a Received trace and answers 250 with the outbound id', async () => {
    const { services, session } = await start();
    const client = await session({ auth: true });
    const reply = await client.sendMail(ALICE.address, ['bob@a.test', 'carol@remote.test'], message(ALICE.address, 'hi'));
    expect(reply).toMatchObject({ code: 250, enhanced: '2.0.0', text: '2.0.0 Ok: queued as 100' });
    expect(services.submitted).toHaveLength(1);
    const [sent] = services.submitted;
    expect(sent!.sender).toEqual({ userId: ALICE.userId, address: ALICE.address });
    expect(sent!.envelope).toEqual({ mailFrom: ALICE.address, rcptTo: ['bob@a.test', 'carol@remote.test'] });
    expect(sent!.raw.toString()).toMatch(/^Received: from client\.a\.test\r\n\tby mail\.a\.test \(Mailyard\) with ESMTPSA id /);
  });

  it("maps the send path's refusals to replies: 553 5.7.1, 450 4.7.1, 550 5.6.0; anything else is 451 4.3.0", async () => {
    const { services, session } = await start();
    const client = await session({ auth: true });
    const cases: Array<[Error, number, string]> = [
      [new SenderNotAllowedError('From', 'ceo@a.test'), 553, '5.7.1'],
      [new SendRateLimitedError(600), 450, '4.7.1'],
      [new AppError('send.from_missing', 'the message has no From header', 400), 550, '5.6.0'],
      [new AppError('send.header_repeated', 'the message has 2 From header fields', 400), 553, '5.7.1'],
      [new Error('connection terminated'), 451, '4.3.0'],
    ];
    for (const [err, code, enhanced] of cases) {
      services.failNextWith(err);
      expect(await client.sendMail(ALICE.address, ['bob@a.test'], message(ALICE.address, err.message)), err.message).toMatchObject({ code, enhanced });
    }
    expect(services.submitted).toEqual([]);
  });

  it('refuses a message with more than 50 Received fields with 554 5.4.6 (a loop) without submitting it, and accepts 50', async () => {
    const { services, session } = await start();
    const client = await session({ auth: true });
    const withReceived = (n: number) => Buffer.concat([Buffer.from('Received: from x.test by y.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n'.repeat(n)), message(ALICE.address, `hops ${n}`)]);
    expect(await client.sendMail(ALICE.address, ['bob@a.test'], withReceived(51))).toMatchObject({ code: 554, enhanced: '5.4.6' });
    expect(services.submitted).toEqual([]);
    expect(await client.sendMail(ALICE.address, ['bob@a.test'], withReceived(50))).toMatchObject({ code: 250 });
    expect(services.submitted).toHaveLength(1);
  });
});
