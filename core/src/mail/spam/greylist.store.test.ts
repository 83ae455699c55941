import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { allocateRedisUrl } from '../../../../tests/helpers/redis.js';
import { closedPort } from '../../../../tests/helpers/smtp-test-env.js';
import { createTestStore, type TestStore } from '../../../../tests/helpers/store.js';
import { testSecrets } from '../../../../tests/helpers/secrets.js';
import { createAccountsService } from '../../accounts/accounts.service.js';
import { createRedis } from '../../queue/redis.js';
import { createDomainRepository } from '../../repositories/domain.repository.js';
import { createSenderRuleRepository } from '../../repositories/sender-rule.repository.js';
import { clientNetwork, createGreylist, GREYLIST_CONFIRMED_TTL_SECONDS } from './greylist.js';

/** Greylisting on real Redis and PostgreSQL, with a clock the test moves. */

let store: TestStore;
let redisDb: Awaited<ReturnType<typeof allocateRedisUrl>>;
let redis: Redis;
let userId: number;
let clock = 1_000_000_000_000;
const now = () => clock;

beforeAll(async () => {
  store = await createTestStore();
  redisDb = await allocateRedisUrl();
  redis = new Redis(redisDb.url);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('grey.test');
  await accounts.addDomain('open.test');
  userId = (await accounts.addUser({ address: 'bob@grey.test', password: 'a long password' })).id;
});
afterAll(async () => {
  await redisDb?.flush();
  redis?.disconnect();
  await store?.drop();
});

const greylist = (delaySeconds = 300) => createGreylist({ db: store.db, redis, delaySeconds, now });
const query = (over: Partial<Parameters<ReturnType<typeof greylist>['check']>[0]> = {}) => ({ ip: '192.0.2.10', mailFrom: 'ann@far.test', rcpt: 'bob@grey.test', userId, ...over });

describe('client networks', () => {
  it('keys IPv4 clients by /24 and IPv6 clients by /64', () => {
    expect(clientNetwork('192.0.2.10')).toBe('192.0.2.0/24');
    expect(clientNetwork('::ffff:192.0.2.200')).toBe('192.0.2.0/24');
    expect(clientNetwork('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(clientNetwork('2001:DB8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(clientNetwork('2001:db8::1')).toBe('2001:db8:0:0::/64');
  });
});

describe('greylisting', () => {
  it('refuses the first attempt, still refuses before the delay, accepts after it and remembers the triplet 30 days', async () => {
    const g = greylist(300);
    const q = query({ mailFrom: 'First@Far.Test' });
    expect(await g.check(q)).toEqual({ pass: false, retryInSeconds: 300 });
    clock += 120_000;
    expect(await g.check(q)).toEqual({ pass: false, retryInSeconds: 180 });
    clock += 180_000;
    expect(await g.check(q)).toEqual({ pass: true, reason: 'confirmed' });
    const [key] = await redis.keys('greylist:triplet:*first@far.test*');
    expect(key).toBe('greylist:triplet:192.0.2.0/24|first@far.test|bob@grey.test');
    expect(await redis.ttl(key!)).toBeGreaterThan(GREYLIST_CONFIRMED_TTL_SECONDS - 60);
    // Another host of the same /24 is the same client; another recipient or sender is a new triplet.
    expect(await g.check({ ...q, ip: '192.0.2.99' })).toEqual({ pass: true, reason: 'confirmed' });
    expect((await g.check({ ...q, ip: '198.51.100.1' })).pass).toBe(false);
    expect((await g.check({ ...q, mailFrom: 'other@far.test' })).pass).toBe(false);
  });

  it('accepts the first retry at once with a delay of 0, and greylists the null sender as its own triplet', async () => {
    const g = greylist(0);
    const q = query({ mailFrom: '', ip: '203.0.113.5' });
    expect(await g.check(q)).toEqual({ pass: false, retryInSeconds: 0 });
    expect(await g.check(q)).toEqual({ pass: true, reason: 'confirmed' });
    expect(await redis.exists('greylist:triplet:203.0.113.0/24||bob@grey.test')).toBe(1);
  });

  it("skips senders on the recipient's allow list, but not on their block list", async () => {
    const rules = createSenderRuleRepository(store.db);
    await rules.upsert(userId, 'allow', 'friend.test');
    await rules.upsert(userId, 'block', 'foe.test');
    expect(await greylist().check(query({ mailFrom: 'ann@friend.test' }))).toEqual({ pass: true, reason: 'allow-listed' });
    expect((await greylist().check(query({ mailFrom: 'ann@foe.test' }))).pass).toBe(false);
  });

  it("skips recipients whose domain turned greylisting off", async () => {
    const domains = createDomainRepository(store.db);
    const open = (await domains.findByName('open.test'))!;
    expect((await greylist().check(query({ rcpt: 'x@open.test' }))).pass).toBe(false);
    await domains.updateTrustPolicy(open.id, { greylisting: 'off' });
    expect(await greylist().check(query({ rcpt: 'y@open.test' }))).toEqual({ pass: true, reason: 'domain-off' });
  });

  it('skips a client network and sender domain remembered after a DMARC pass', async () => {
    const g = greylist();
    expect((await g.check(query({ ip: '198.51.100.7', mailFrom: 'a@good.test' }))).pass).toBe(false);
    await g.rememberGoodSender('198.51.100.7', 'a@good.test');
    expect(await g.check(query({ ip: '198.51.100.8', mailFrom: 'b@GOOD.test' }))).toEqual({ pass: true, reason: 'good-sender' });
    expect((await g.check(query({ ip: '198.51.101.8', mailFrom: 'b@good.test' }))).pass).toBe(false);
  });

  it('lets mail through (and reports it) when Redis is down, instead of refusing it forever', async () => {
    const down = createRedis(`redis://127.0.0.1:${await closedPort()}`, { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
    const failures: string[] = [];
    try {
      const g = createGreylist({ db: store.db, redis: down, delaySeconds: 300, onUnavailable: (err) => failures.push(err.message) });
      expect(await g.check(query({ mailFrom: 'new@far.test' }))).toEqual({ pass: true, reason: 'unavailable' });
      await g.rememberGoodSender('192.0.2.1', 'new@far.test');
      expect(failures).toHaveLength(2);
    } finally {
      down.disconnect();
    }
  });
});
