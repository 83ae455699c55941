import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDkim } from '../../../tests/helpers/dkim-verify.js';
import { startDnsmasq, type TestDnsServer } from '../../../tests/helpers/dnsmasq.js';
import { dkimSign, relaxedBody, relaxedHeader, type SigningKey } from './dkim-signer.js';

/** Our signer checked by an independent verifier (python3-dkim) against a key published on dnsmasq. */
let dns: TestDnsServer;
let key: SigningKey;

beforeAll(async () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  key = { domain: 'sign.test', selector: 's1', key: privateKey };
  const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  dns = await startDnsmasq({ txt: [{ name: 's1._domainkey.sign.test', value: `v=DKIM1; k=rsa; p=${p}` }], localDomains: ['sign.test'] });
});
afterAll(async () => {
  await dns?.stop();
});

const messages: Record<string, string> = {
  plain: 'From: Ann <ann@sign.test>\r\nTo: bob@b.test\r\nSubject: hello\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@sign.test>\r\n\r\nHello Bob\r\n',
  'folded headers, odd spacing, trailing blank lines': 'From:   Ann <ann@sign.test>  \r\nSubject: a very\r\n\t long   subject\r\nTo: bob@b.test,\r\n carl@c.test\r\n\r\nline  with   spaces   \r\n\ttabbed\t\r\n\r\n\r\n\r\n',
  'empty body': 'From: ann@sign.test\r\nSubject: empty\r\n\r\n',
  'two Received-like fields and a duplicated To': 'Received: x\r\nFrom: ann@sign.test\r\nTo: a@b.test\r\nTo: c@d.test\r\nSubject: dup\r\n\r\nbody\r\n',
  'bare LF line endings': 'From: ann@sign.test\nSubject: lf\n\nfirst\nsecond\n',
  'many signed fields (a long h= that must fold at colons)':
    'From: ann@sign.test\r\nSender: ann@sign.test\r\nReply-To: ann@sign.test\r\nSubject: long h\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <2@sign.test>\r\nTo: b@b.test\r\nCc: c@c.test\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\nIn-Reply-To: <1@sign.test>\r\nReferences: <1@sign.test>\r\nList-Id: <list.sign.test>\r\nList-Unsubscribe: <mailto:u@sign.test>\r\n\r\nbody\r\n',
  'MIME with 8-bit text': 'From: ann@sign.test\r\nSubject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, Jürgen — 東京\r\n',
};

describe('DKIM signer', () => {
  it.each(Object.entries(messages))('produces a signature python3-dkim verifies: %s', async (_name, text) => {
    const signed = await dkimSign(Buffer.from(text, 'utf8'), key, new Date('2026-11-23T10:00:00Z'));
    expect(signed.toString()).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=sign\.test; s=s1;/);
    const verdict = await verifyDkim(Buffer.from(signed.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'), dns.server);
    expect(verdict, verdict.detail).toMatchObject({ ok: true });
  });

  it('fails verification once the body or a signed header changes', async () => {
    const signed = (await dkimSign(Buffer.from(messages.plain!), key)).toString();
    expect((await verifyDkim(Buffer.from(signed.replace('Hello Bob', 'Hello Eve')), dns.server)).ok).toBe(false);
    expect((await verifyDkim(Buffer.from(signed.replace('Subject: hello', 'Subject: hellO')), dns.server)).ok).toBe(false);
  });

  it('oversigns From: h= lists it once more than it occurs, and a From added above or below the signed one breaks the signature', async () => {
    for (const text of [messages.plain!, 'From: ann@sign.test\r\nFrom: ann2@sign.test\r\nSubject: two\r\n\r\nbody\r\n']) {
      const signed = (await dkimSign(Buffer.from(text), key)).toString('latin1');
      const h = /\bh=([^;]*);/.exec(signed.replace(/\r\n\t/g, ''))![1]!.split(':').map((n) => n.trim());
      const occurring = text.split('\r\n').filter((l) => /^from:/i.test(l)).length;
      expect(h.filter((n) => n === 'from')).toHaveLength(occurring + 1);
      expect((await verifyDkim(Buffer.from(signed, 'latin1'), dns.server)).ok, 'untouched').toBe(true);
      const [signature, rest] = [signed.slice(0, signed.indexOf('\r\nFrom:') + 2), signed.slice(signed.indexOf('\r\nFrom:') + 2)];
      const above = `${signature}From: ceo@sign.test\r\n${rest}`;
      expect((await verifyDkim(Buffer.from(above, 'latin1'), dns.server)).ok, 'From added above').toBe(false);
      const below = signed.replace(/\r\n\r\n/, '\r\nFrom: ceo@sign.test\r\n\r\n');
      expect((await verifyDkim(Buffer.from(below, 'latin1'), dns.server)).ok, 'From added below').toBe(false);
    }
  });

  it('canonicalizes like RFC 6376 3.4 (relaxed)', () => {
    expect(relaxedHeader('Subject', 'SubJect :  a\r\n\t b  ')).toBe('subject:a b');
    expect(relaxedBody(Buffer.from(' a  b \r\n\r\nc\t\r\n\r\n\r\n')).toString()).toBe(' a b\r\n\r\nc\r\n');
    expect(relaxedBody(Buffer.from('\r\n\r\n')).length).toBe(0);
    // The fast path (already canonical) and the slow one agree.
    for (const body of ['a b\r\nc\r\n\r\n', 'a b\r\nc', 'x\r\n', 'a\nb\r\n', 'a \r\n', 'a  b\r\n', 'a\tb\r\n', ' lead\r\n']) {
      const fast = relaxedBody(Buffer.from(body)).toString();
      const slow = body.split(/\r?\n/).map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
      while (slow.length > 0 && slow[slow.length - 1] === '') slow.pop();
      expect(fast, JSON.stringify(body)).toBe(slow.length === 0 ? '' : `${slow.join('\r\n')}\r\n`);
    }
  });
});
