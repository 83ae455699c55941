import { isIPv4, isIPv6 } from 'node:net';
import type { Redis } from 'ioredis';
import type { DbOrTx } from '../../db/client.js';
import { createDomainRepository, DEFAULT_TRUST_POLICY } from '../../repositories/domain.repository.js';
import { createSenderRuleRepository } from '../../repositories/sender-rule.repository.js';
import { normalizeClientIp } from '../trusted-networks.js';

/**
 * Greylisting on the MX (issue 11): the first attempt of an unknown triplet (client /24 or /64,
 * envelope sender, recipient) gets a temporary refusal; a real MTA retries, most spam engines do
 * not. A retry after `delaySeconds` is accepted and the triplet is remembered for 30 days (refreshed
 * on use); an unconfirmed triplet is forgotten after a day. State lives in Redis.
 *
 * Not greylisted: clients in the trusted networks (the caller does not ask), senders on the
 * recipient's allow list, recipients whose domain has `greylisting: 'off'`, and senders with a
 * good history: once a message from a client network and MAIL FROM domain passed DMARC and was
 * accepted (`rememberGoodSender`), that pair skips greylisting for 30 days. When Redis cannot be
 * reached the message is accepted (and logged by the caller): never a 451 forever.
 */

export const GREYLIST_CONFIRMED_TTL_SECONDS = 30 * 24 * 3600;
export const GREYLIST_PENDING_TTL_SECONDS = 24 * 3600;

export type GreylistDecision =
  | { pass: true; reason: 'confirmed' | 'allow-listed' | 'domain-off' | 'good-sender' | 'unavailable' }
  | { pass: false; retryInSeconds: number };

export interface GreylistQuery {
  ip: string;
  /** The envelope sender; '' for the null sender. */
  mailFrom: string;
  /** The recipient address as given at RCPT. */
  rcpt: string;
  /** The local user the recipient routes to. */
  userId: number;
}

export interface GreylistDeps {
  db: DbOrTx;
  redis: Redis;
  /** SMTP_GREYLIST_DELAY: seconds before a retry is accepted (0: the first retry is). */
  delaySeconds: number;
  /** Called when Redis failed and the message passed for that reason. */
  onUnavailable?(err: Error): void;
  now?: () => number;
}

/** The client's network as greylisting sees it: the /24 of an IPv4 address, the /64 of an IPv6 one. */
export function clientNetwork(ip: string): string {
  const client = normalizeClientIp(ip);
  if (isIPv4(client)) return `${client.split('.').slice(0, 3).join('.')}.0/24`;
  if (isIPv6(client)) return `${expandIpv6(client).slice(0, 4).join(':')}::/64`;
  return client;
}

/** The eight 16-bit groups of an IPv6 address, in lower-case hex without leading zeros. */
export function expandIpv6(ip: string): string[] {
  let text = ip.toLowerCase();
  // An embedded IPv4 tail (::ffff:1.2.3.4) as two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => parseInt(g, 16).toString(16));
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * One atomic step on a triplet: unknown → remember the first attempt (pending, 1 day) and refuse;
 * pending and old enough → confirm (30 days) and pass; confirmed → refresh and pass. Returns -1 on
 * a pass, else the seconds left to wait.
 */
const TRIPLET_SCRIPT = `
local now = tonumber(ARGV[1])
local delay = tonumber(ARGV[2]) * 1000
local value = redis.call('GET', KEYS[1])
if value == 'ok' then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return -1
end
if not value then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
  return math.ceil(delay / 1000)
end
local waited = now - tonumber(value)
if waited >= delay then
  redis.call('SET', KEYS[1], 'ok', 'EX', ARGV[3])
  return -1
end
return math.ceil((delay - waited) / 1000)
`;

export function createGreylist(deps: GreylistDeps) {
  const now = deps.now ?? Date.now;
  const senderRules = createSenderRuleRepository(deps.db);
  const domains = createDomainRepository(deps.db);
  const goodSenderKey = (ip: string, mailFrom: string) => `greylist:good:${clientNetwork(ip)}|${domainOf(mailFrom)}`;

  return {
    /** Whether this recipient may receive from this client and sender now. Throws only when the store cannot be read. */
    async check(query: GreylistQuery): Promise<GreylistDecision> {
      // The triplet first: a known sender (the common case) passes on one Redis call, with no
      // database query on the RCPT path; the exceptions are looked at only before a refusal.
      let wait: number;
      try {
        const key = `greylist:triplet:${clientNetwork(query.ip)}|${query.mailFrom.toLowerCase()}|${query.rcpt.toLowerCase()}`;
        wait = Number(await deps.redis.eval(TRIPLET_SCRIPT, 1, key, String(now()), String(deps.delaySeconds), String(GREYLIST_CONFIRMED_TTL_SECONDS), String(GREYLIST_PENDING_TTL_SECONDS)));
        if (wait < 0) return { pass: true, reason: 'confirmed' };
        if (query.mailFrom && (await deps.redis.exists(goodSenderKey(query.ip, query.mailFrom))) === 1) return { pass: true, reason: 'good-sender' };
      } catch (err) {
        deps.onUnavailable?.(err as Error);
        return { pass: true, reason: 'unavailable' };
      }
      const policy = (await domains.trustPolicies([domainOf(query.rcpt)])).get(domainOf(query.rcpt)) ?? DEFAULT_TRUST_POLICY;
      if (policy.greylisting === 'off') return { pass: true, reason: 'domain-off' };
      if (query.mailFrom && (await senderRules.decide([query.userId], query.mailFrom)).get(query.userId) === 'allow') return { pass: true, reason: 'allow-listed' };
      return { pass: false, retryInSeconds: wait };
    },

    /** After a message that passed DMARC was accepted: its client network and MAIL FROM domain skip greylisting for 30 days. Never throws. */
    async rememberGoodSender(ip: string, mailFrom: string): Promise<void> {
      if (!mailFrom) return;
      try {
        await deps.redis.set(goodSenderKey(ip, mailFrom), '1', 'EX', GREYLIST_CONFIRMED_TTL_SECONDS);
      } catch (err) {
        deps.onUnavailable?.(err as Error);
      }
    },
  };
}
export type Greylist = ReturnType<typeof createGreylist>;
