import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import DKIM from 'nodemailer/lib/dkim/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasDkimVerifier, verifyDkim } from '../helpers/dkim-verify.js';
import { hasDnsmasq, startDnsmasq, type TestDnsServer } from '../helpers/dnsmasq.js';
import { hasPostfix, startPostfixReceiver, type PostfixReceiver } from '../helpers/postfix.js';
import { runCommand } from '../helpers/services.js';

/**
 * The real-peer helpers the outbound tests stand on: a private Postfix receiving into Maildirs
 * (with an in-test policy server to answer 4xx on demand) and an independent DKIM verifier.
 * If these lie, every outbound test built on them lies too, so each claim is checked with a real
 * client (swaks) or a real signer.
 */

const SWAKS = '/usr/bin/swaks';
const running: Array<{ stop(): Promise<void> }> = [];

afterAll(async () => {
  await Promise.allSettled(running.splice(0).map((r) => r.stop()));
});

async function receiver(options: Parameters<typeof startPostfixReceiver>[0]): Promise<PostfixReceiver> {
  const r = await startPostfixReceiver(options);
  running.push(r);
  return r;
}

function crlf(lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n', 'latin1');
}

/**
 * swaks sends `data` (CRLF lines) as the whole message; it dot-stuffs and appends "\r\n." itself,
 * so a message ending in CRLF is passed with a closing ".\r\n" (which swaks strips together with
 * the CRLF before it) or the receiver would get an extra empty line.
 */
function swaks(to: PostfixReceiver, rcpt: string, data: Buffer, extra: string[] = []) {
  return runCommand(
    SWAKS,
    ['--server', to.host, '--port', String(to.port), '--ehlo', 'client.outside.test', '--from', 'sender@outside.test', '--to', rcpt, '--data', '-', ...extra],
    { input: Buffer.concat([data, Buffer.from('.\r\n')]), timeoutMs: 30_000 },
  );
}

/** What Postfix prepends on delivery: Return-Path, X-Original-To, Delivered-To and its Received header. */
function prependedHeaders(delivered: Buffer, sent: Buffer): string {
  // Compared as latin1 strings so that a failure shows a readable diff; bytes map 1:1.
  expect(delivered.subarray(delivered.length - sent.length).toString('latin1')).toBe(sent.toString('latin1'));
  return delivered.subarray(0, delivered.length - sent.length).toString('latin1');
}

function message(subject: string, bodyLines: string[]): Buffer {
  return crlf([
    'From: Sender <sender@outside.test>',
    'To: Alice <alice@rx.test>',
    `Subject: ${subject}`,
    `Message-ID: <${subject.replace(/\W/g, '')}@outside.test>`,
    'Date: Mon, 01 Jan 2024 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=iso-8859-1',
    'Content-Transfer-Encoding: 8bit',
    '',
    ...bodyLines,
  ]);
}

beforeAll(() => {
  // System tier: the peers are part of the test, a missing one is a failure, not a skip.
  expect(hasPostfix, 'Debian postfix is installed').toBe(true);
  expect(hasDnsmasq, 'dnsmasq is installed').toBe(true);
  expect(hasDkimVerifier, '/usr/bin/python3 with python3-dkim').toBe(true);
});

describe('startPostfixReceiver', () => {
  it('delivers to a known mailbox byte for byte and rejects an unknown one with 550 5.1.1', async () => {
    const rx = await receiver({ domains: ['rx.test'], mailboxes: ['alice@rx.test'] });
    expect(rx.host).toBe('127.0.0.2');

    // Awkward but legal content: a leading dot (dot-stuffing), 8-bit bytes, trailing blanks, an empty line.
    const sent = message('byte check', ['Hello Alice,', '.a line that starts with a dot', 'Gr\xfc\xdfe aus K\xf6ln   ', '', '-- ', 'sender']);
    const ok = await swaks(rx, 'alice@rx.test', sent, ['--tls']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/<- {2}220 2\.0\.0 Ready to start TLS/);
    expect(ok.stdout).toMatch(/<~ {2}250 2\.0\.0 Ok: queued/);

    const [delivered] = await rx.waitForMessages('alice@rx.test', 1);
    const added = prependedHeaders(delivered!, sent);
    expect(added).toMatch(/^Return-Path: <sender@outside\.test>\r\nX-Original-To: alice@rx\.test\r\nDelivered-To: alice@rx\.test\r\nReceived: from client\.outside\.test /);
    expect(added).toMatch(/with ESMTPS id/); // the session really was TLS

    const unknown = await swaks(rx, 'nobody@rx.test', sent);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stdout).toMatch(/<\*\* 550 5\.1\.1 <nobody@rx\.test>: Recipient address rejected: User unknown in virtual mailbox table/);
    expect(await rx.messagesFor('alice@rx.test')).toHaveLength(1);
    // Not ours at all: relaying is refused, nothing leaves this instance.
    const relay = await swaks(rx, 'someone@elsewhere.test', sent);
    expect(relay.stdout).toMatch(/<\*\* 554 5\.7\.1 .*Relay access denied/);
  });

  it('answers what the policy says: 450 first, then accepts the retry', async () => {
    const requests: Array<Record<string, string>> = [];
    const rx = await receiver({
      domains: ['rx.test'],
      mailboxes: ['alice@rx.test'],
      policy: (request) => {
        requests.push(request);
        return requests.length === 1 ? '450 4.2.0 later' : 'DUNNO';
      },
    });
    const sent = message('policy check', ['first try is refused']);

    const first = await swaks(rx, 'alice@rx.test', sent);
    expect(first.code).not.toBe(0);
    expect(first.stdout).toMatch(/<\*\* 450 4\.2\.0 <alice@rx\.test>: Recipient address rejected: later/);
    expect(await rx.messagesFor('alice@rx.test')).toHaveLength(0);

    const second = await swaks(rx, 'alice@rx.test', sent);
    expect(second.code, second.stdout).toBe(0);
    const [delivered] = await rx.waitForMessages('alice@rx.test', 1);
    prependedHeaders(delivered!, sent);

    expect(rx.policyRequests).toBe(2);
    expect(requests[0]).toMatchObject({ request: 'smtpd_access_policy', protocol_state: 'RCPT', recipient: 'alice@rx.test', sender: 'sender@outside.test' });
  });

  it('applies extra main.cf settings from the test', async () => {
    const rx = await receiver({ domains: ['rx.test'], mailboxes: ['alice@rx.test'], settings: { message_size_limit: '2000' } });
    const big = await swaks(rx, 'alice@rx.test', message('too big', Array.from({ length: 60 }, () => 'x'.repeat(70))));
    expect(big.stdout).toMatch(/<-\s+250-SIZE 2000\r?\n/);
    expect(big.stdout).toMatch(/<\*\* 552 5\.3\.4 Error: message file too big/);
    const small = await swaks(rx, 'alice@rx.test', message('small', ['fits']));
    expect(small.code, small.stdout).toBe(0);
    expect(await rx.waitForMessages('alice@rx.test', 1)).toHaveLength(1);
  });

  it('runs two instances at once, each with its own mailboxes', async () => {
    const [one, two] = await Promise.all([
      receiver({ host: '127.0.0.2', domains: ['one.test'], mailboxes: ['a@one.test'] }),
      receiver({ host: '127.0.0.3', domains: ['two.test'], mailboxes: ['b@two.test'] }),
    ]);
    expect(one.dir).not.toBe(two.dir);
    const toOne = message('to one', ['for one']);
    const toTwo = message('to two', ['for two']);
    const [r1, r2] = await Promise.all([swaks(one, 'a@one.test', toOne), swaks(two, 'b@two.test', toTwo)]);
    expect(r1.code, r1.stdout).toBe(0);
    expect(r2.code, r2.stdout).toBe(0);
    prependedHeaders((await one.waitForMessages('a@one.test', 1))[0]!, toOne);
    prependedHeaders((await two.waitForMessages('b@two.test', 1))[0]!, toTwo);
    // Each instance only knows its own domain.
    expect((await swaks(one, 'b@two.test', toTwo)).stdout).toMatch(/<\*\* 554 5\.7\.1 .*Relay access denied/);
    await expect(one.messagesFor('b@two.test')).rejects.toThrow(/not one of this receiver's mailboxes/);

    // Stopping removes the instance: its port closes, its files are gone, the other keeps working.
    await one.stop();
    const gone = await swaks(one, 'a@one.test', toOne);
    expect(gone.stdout + gone.stderr).toMatch(/Connection refused|Error connecting/);
    expect(existsSync(one.dir)).toBe(false);
    const again = await swaks(two, 'b@two.test', toTwo);
    expect(again.code, again.stdout).toBe(0);
    expect(await two.waitForMessages('b@two.test', 2)).toHaveLength(2);
  });
});

describe('verifyDkim (python3-dkim, key from dnsmasq)', () => {
  let dns: TestDnsServer;
  let privateKey: string;

  beforeAll(async () => {
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKey = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const p = keys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    dns = await startDnsmasq({ localDomains: ['signer.test'], txt: [{ name: 'sel1._domainkey.signer.test', value: `v=DKIM1; k=rsa; p=${p}` }] });
    running.push(dns);
  });

  async function sign(raw: Buffer, keySelector = 'sel1'): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of new DKIM({ domainName: 'signer.test', keySelector, privateKey }).sign(raw)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  it('accepts a correctly signed message and rejects it once the body is changed', async () => {
    const signed = await sign(message('dkim check', ['Pay 100 EUR to account 1234.']));
    expect(signed.toString('latin1')).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=signer\.test;/);

    const good = await verifyDkim(signed, dns.server);
    expect(good, good.detail).toEqual({ ok: true, detail: expect.stringContaining('sel1._domainkey.signer.test.: found') });

    const tampered = Buffer.from(signed.toString('latin1').replace('100 EUR', '900 EUR'), 'latin1');
    const bad = await verifyDkim(tampered, dns.server);
    expect(bad.ok).toBe(false);
    expect(bad.detail).toMatch(/body hash mismatch/);
  });

  it('rejects a signature whose key is not published, and a message without a signature', async () => {
    const unknownSelector = await verifyDkim(await sign(message('no key', ['x']), 'missing'), dns.server);
    expect(unknownSelector.ok).toBe(false);
    expect(unknownSelector.detail).toMatch(/missing\._domainkey\.signer\.test\.: no record/);
    expect(await verifyDkim(message('unsigned', ['x']), dns.server)).toEqual({ ok: false, detail: 'no DKIM-Signature header' });
  });

  it('verifies a signed message after delivery through Postfix (what outbound tests will check)', async () => {
    const rx = await receiver({ domains: ['rx.test'], mailboxes: ['alice@rx.test'] });
    const signed = await sign(message('through postfix', ['signed, then relayed', '.dot line']));
    const sent = await swaks(rx, 'alice@rx.test', signed);
    expect(sent.code, sent.stdout).toBe(0);
    const [delivered] = await rx.waitForMessages('alice@rx.test', 1);
    const result = await verifyDkim(delivered!, dns.server);
    expect(result.ok, result.detail).toBe(true);
  });
});
