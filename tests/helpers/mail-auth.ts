import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth';
import { startDnsmasq, type TestDnsServer } from './dnsmasq.js';

/**
 * Sender domains with SPF, DKIM and DMARC published by a real DNS server (dnsmasq), for the
 * inbound authentication tests. Every domain allows only SENDER_IP by SPF (`-all`):
 * - `signed.test`: a DKIM key (selector `sel`), DMARC p=reject;
 * - `quarantine.test`: DMARC p=quarantine, no key;
 * - `in.test`: our own domain in the tests (SPF only, no DMARC).
 * Mail from 127.0.0.1 therefore fails SPF everywhere, and passes DMARC only with a good signature.
 */

export const SENDER_IP = '192.0.2.1';
export const SELECTOR = 'sel';

export interface AuthDns {
  dns: TestDnsServer;
  /** The message with a DKIM-Signature of `domain` (with the published key) prepended. */
  sign(raw: Buffer, domain?: string): Promise<Buffer>;
  stop(): Promise<void>;
}

export async function startAuthDns(): Promise<AuthDns> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicB64 = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const spf = `v=spf1 ip4:${SENDER_IP} -all`;
  const dns = await startDnsmasq({
    localDomains: ['signed.test', 'quarantine.test', 'in.test'],
    txt: [
      { name: 'signed.test', value: spf },
      { name: `${SELECTOR}._domainkey.signed.test`, value: `v=DKIM1; k=rsa; p=${publicB64}` },
      { name: '_dmarc.signed.test', value: 'v=DMARC1; p=reject' },
      { name: 'quarantine.test', value: spf },
      { name: '_dmarc.quarantine.test', value: 'v=DMARC1; p=quarantine' },
      { name: 'in.test', value: spf },
    ],
  });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    dns,
    async sign(raw, domain = 'signed.test') {
      const { signatures, errors } = await dkimSign(raw, {
        canonicalization: 'relaxed/relaxed',
        signatureData: [{ signingDomain: domain, selector: SELECTOR, privateKey: pem }],
      } as Parameters<typeof dkimSign>[1]);
      if (!signatures.trim()) throw new Error('dkimSign made no signature');
      if (errors?.length) throw new Error(`dkimSign: ${String(errors[0])}`);
      return Buffer.concat([Buffer.from(signatures), raw]);
    },
    stop: () => dns.stop(),
  };
}

/** A small message From `from` To `to`, with CRLF line ends. */
export function authTestMessage(from: string, to: string, subject: string, body = 'Hello, this is a test.'): Buffer {
  return Buffer.from(`From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: ${new Date().toUTCString()}\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@test>\r\n\r\n${body}\r\n`);
}
