import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  loadTlsMaterial,
  parseAddress,
  type ClientAuthResult,
  type ClientCredentials,
  type DraftSender,
  type RecipientVerdict,
  type SpoolInput,
  type SubmitEnvelope,
  type TlsMaterial,
  type TrustInput,
  type TrustVerdict,
} from '@mailyard/core';

/**
 * In-memory fakes of the services core gives the SMTP listeners (core/src/protocol-services/smtp.ts),
 * for transcript tests that run the real listener with no PostgreSQL and no Redis. Each fake
 * records what it was asked and can be told to fail, so a test can assert both the reply and the
 * call that led to it.
 */

/** Local addresses (address -> user id) of the local domains; any other domain is a relay attempt. */
export function fakeRecipients(local: Record<string, number>) {
  const domains = new Set(Object.keys(local).map((a) => a.slice(a.indexOf('@') + 1)));
  return {
    failing: false,
    asked: [] as string[],
    async resolve(address: string): Promise<RecipientVerdict> {
      this.asked.push(address);
      if (this.failing) throw new Error('store unavailable');
      const parsed = parseAddress(address);
      if (!parsed) return { kind: 'invalid' };
      if (!domains.has(parsed.domain)) return { kind: 'relay', address: parsed.address };
      const userId = local[parsed.address];
      return userId === undefined ? { kind: 'unknown', address: parsed.address } : { kind: 'local', userId, address: parsed.address };
    },
  };
}

/** A spool that keeps what it is given; ids are 1, 2, 3 ... */
export function fakeSpool() {
  return {
    failing: false,
    written: [] as SpoolInput[],
    async write(item: SpoolInput): Promise<number> {
      if (this.failing) throw new Error('commit failed');
      this.written.push(item);
      return this.written.length;
    },
  };
}

/** Inbound authentication that passes everything, or answers `next` (a verdict's fields) when a test sets it. */
export function fakeTrust() {
  return {
    failing: false,
    next: null as Partial<TrustVerdict> | null,
    asked: [] as TrustInput[],
    trusted: new Set<string>(),
    isTrustedNetwork(ip: string): boolean {
      return this.trusted.has(ip);
    },
    async verify(input: TrustInput): Promise<TrustVerdict> {
      this.asked.push(input);
      if (this.failing) throw new Error('store unavailable');
      const pass = (domain: string) => ({ result: 'pass', domain });
      return {
        action: 'accept',
        reason: null,
        trustedNetwork: this.trusted.has(input.ip),
        authentication: { spf: pass('b.test'), dkim: pass('b.test'), dmarc: { ...pass('b.test'), policy: 'reject' }, arc: { result: 'none', domain: null } },
        header: 'Authentication-Results: mx.a.test;\r\n dmarc=pass header.from=b.test\r\n',
        refusal: null,
        filter: { verdict: 'inbox', score: -1, junkThreshold: 6, rejectThreshold: 15, engine: 'builtin', override: null, reason: null, checks: [] },
        ...this.next,
      };
    },
  };
}

/** Sign-in that answers from a table of accounts, or with `next` when a test sets it. */
export function fakeAuth(accounts: Array<{ userId: number; address: string; password: string }>) {
  return {
    /** Overrides the answer (or throws, when it is an Error). */
    next: null as ClientAuthResult | Error | null,
    calls: [] as ClientCredentials[],
    async authenticate(credentials: ClientCredentials): Promise<ClientAuthResult> {
      this.calls.push(credentials);
      if (this.next instanceof Error) throw this.next;
      if (this.next) return this.next;
      const account = accounts.find((a) => a.address === credentials.username && a.password === credentials.password);
      return account ? { kind: 'ok', user: { userId: account.userId, address: account.address, role: 'user', totpEnabled: false }, totpRequired: false } : { kind: 'invalid' };
    },
  };
}

/** Which addresses each user may send as. */
export function fakeSenders(owned: Record<number, string[]>) {
  return {
    failing: false,
    async mayUse(userId: number, address: string): Promise<boolean> {
      if (this.failing) throw new Error('store unavailable');
      return (owned[userId] ?? []).includes(address.toLowerCase());
    },
  };
}

/** A send path that records each submission and answers with outbound ids 100, 101 ...; `fail` makes the next one throw. */
export function fakeSubmit() {
  const submitted: Array<{ sender: DraftSender; envelope: SubmitEnvelope; raw: Buffer }> = [];
  let fail: Error | null = null;
  return {
    submitted,
    failNextWith(err: Error) {
      fail = err;
    },
    async submit(sender: DraftSender, envelope: SubmitEnvelope, raw: Buffer): Promise<{ outboundId: number }> {
      if (fail) {
        const err = fail;
        fail = null;
        throw err;
      }
      submitted.push({ sender, envelope, raw });
      return { outboundId: 99 + submitted.length };
    },
  };
}

/** Self-signed TLS material in a temp folder; `remove` deletes the folder. */
export async function tempTlsMaterial(hostname: string): Promise<TlsMaterial & { remove(): void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-smtp-fakes-'));
  const tls = await loadTlsMaterial({ dataDir: dir, hostname });
  return { ...tls, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
