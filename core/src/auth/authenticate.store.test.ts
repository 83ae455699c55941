import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateRedisUrl } from '../../../tests/helpers/redis.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { createAppPasswordRepository } from '../repositories/credential.repository.js';
import { generateAppPassword } from './app-password.js';
import { authenticateClient, confirmAccountPassword, type ClientAuthDeps, type ClientChannel, type SignInFailureRules } from './authenticate.js';
import { hashPassword } from './password.js';
import { createRateLimiter, LOGIN_FAILURES_PER_ACCOUNT, type RateLimitRule } from './rate-limit.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let redis: Redis;
let redisDb: Awaited<ReturnType<typeof allocateRedisUrl>>;
let deps: ClientAuthDeps;
let zoeId: number;
let yanId: number;
const appPassword = generateAppPassword();
const accounts = () => createAccountsService({ db: store.db, secrets: testSecrets });

beforeAll(async () => {
  store = await createTestStore();
  redisDb = await allocateRedisUrl();
  redis = new Redis(redisDb.url);
  deps = { db: store.db, limiter: createRateLimiter(redis) };
  await accounts().addDomain('auth.test');
  zoeId = (await accounts().addUser({ address: 'zoe@auth.test', password: 'zoe password' })).id;
  yanId = (await accounts().addUser({ address: 'yan@auth.test', password: 'yan password' })).id;
  await createAppPasswordRepository(store.db).insert(zoeId, 'Thunderbird', await hashPassword(appPassword));
});
afterAll(async () => {
  await redisDb?.flush();
  redis?.disconnect();
  await store?.drop();
});

let seq = 0;
/** A fresh user, so that tests never share a per-account counter. */
async function newUser(prefix: string): Promise<{ id: number; address: string; password: string }> {
  const address = `${prefix}${++seq}@auth.test`;
  const password = `${prefix} password`;
  return { id: (await accounts().addUser({ address, password })).id, address, password };
}

/** Rules under names of their own, so that a test's per-IP counts stay its own. */
function rules(perIp: number, perAccount: number): SignInFailureRules {
  seq += 1;
  const rule = (kind: string, max: number): RateLimitRule => ({ name: `test-${kind}-${seq}`, max, windowSeconds: 600 });
  return { perIp: rule('ip', perIp), perAccount: rule('account', perAccount) };
}

const signIn = (channel: ClientChannel, username: string, password: string, ip = '192.0.2.1', d: ClientAuthDeps = deps) => authenticateClient(d, channel, { username, password, ip });

async function count(rule: RateLimitRule, subject: string): Promise<number> {
  return Number((await redis.get(`rl:${rule.name}:${subject}`)) ?? 0);
}

describe('authenticateClient: which passwords open an account', () => {
  it('takes the account password on every channel; the web asks for no TOTP step when TOTP is off', async () => {
    for (const channel of ['web', 'smtp', 'imap'] as const) {
      expect(await signIn(channel, 'zoe@auth.test', 'zoe password')).toEqual({ kind: 'ok', user: { userId: zoeId, address: 'zoe@auth.test', role: 'user', totpEnabled: false }, totpRequired: false });
    }
  });

  it('does not accept an app password for web sign-in', async () => {
    expect(await signIn('web', 'zoe@auth.test', appPassword)).toEqual({ kind: 'invalid' });
  });

  it('accepts an app password from mail clients (SMTP, IMAP) and records its last use', async () => {
    const repo = createAppPasswordRepository(store.db);
    const extra = generateAppPassword();
    const row = await repo.insert(zoeId, 'Tablet', await hashPassword(extra));
    expect((await repo.list(zoeId)).find((r) => r.id === row.id)!.lastUsedAt).toBeNull();
    expect(await signIn('smtp', 'zoe@auth.test', extra)).toMatchObject({ kind: 'ok', user: { userId: zoeId } });
    expect(await signIn('imap', 'zoe@auth.test', extra)).toMatchObject({ kind: 'ok', user: { userId: zoeId } });
    expect((await repo.list(zoeId)).find((r) => r.id === row.id)!.lastUsedAt).toBeInstanceOf(Date);
  });

  it('with TOTP on, mail clients get in with an app password only, and the web takes the account password and asks for the code', async () => {
    await store.db.updateTable('users').set({ totp_enabled: true }).where('id', '=', zoeId).execute();
    try {
      expect(await signIn('smtp', 'zoe@auth.test', 'zoe password')).toEqual({ kind: 'invalid' });
      expect(await signIn('imap', 'zoe@auth.test', 'zoe password')).toEqual({ kind: 'invalid' });
      expect(await signIn('imap', 'zoe@auth.test', appPassword)).toMatchObject({ kind: 'ok', user: { userId: zoeId }, totpRequired: false });
      expect(await signIn('web', 'zoe@auth.test', 'zoe password')).toMatchObject({ kind: 'ok', user: { userId: zoeId, totpEnabled: true }, totpRequired: true });
    } finally {
      await store.db.updateTable('users').set({ totp_enabled: false }).where('id', '=', zoeId).execute();
    }
  });

  it("does not accept one user's app password for another user", async () => {
    expect(await signIn('imap', 'yan@auth.test', appPassword)).toEqual({ kind: 'invalid' });
  });

  it('stops accepting an app password once it is revoked', async () => {
    const repo = createAppPasswordRepository(store.db);
    const extra = generateAppPassword();
    const row = await repo.insert(zoeId, 'Phone', await hashPassword(extra));
    expect(await signIn('imap', 'zoe@auth.test', extra)).toMatchObject({ kind: 'ok' });
    expect(await repo.remove(yanId, row.id)).toBeNull(); // scoped by owner: another user's id removes nothing
    expect(await repo.remove(zoeId, row.id)).toBe('Phone');
    expect(await signIn('imap', 'zoe@auth.test', extra)).toEqual({ kind: 'invalid' });
  });

  it('does not open a disabled account, an unknown one, or a name that is no address', async () => {
    const gone = await newUser('gone');
    await store.db.updateTable('users').set({ disabled: true }).where('id', '=', gone.id).execute();
    expect(await signIn('web', gone.address, gone.password)).toEqual({ kind: 'invalid' });
    expect(await signIn('smtp', 'nobody@auth.test', 'zoe password')).toEqual({ kind: 'invalid' });
    expect(await signIn('imap', 'zoe', 'zoe password')).toEqual({ kind: 'invalid' });
  });

  it('stores only an argon2id hash of an app password', async () => {
    const rows = await store.db.selectFrom('app_passwords').select('password_hash').where('user_id', '=', zoeId).execute();
    for (const r of rows) {
      expect(r.password_hash).toMatch(/^\$argon2id\$/);
      expect(r.password_hash).not.toContain(appPassword);
    }
  });
});

describe('authenticateClient: failure limits', () => {
  it('counts every spelling of an address against its one account: after 20 failures under four spellings the right password is refused', async () => {
    const amy = await newUser('amy');
    const [local, domain] = amy.address.split('@') as [string, string];
    const spellings = [`${local}@${domain}.`, `${local}@ ${domain}`, `${local.toUpperCase()}@${domain}`, `${local}@\t${domain}`];
    // Each spelling is amy: with her password, it signs her in (and takes its own count back).
    for (const spelling of spellings) expect(await signIn('imap', spelling, amy.password)).toMatchObject({ kind: 'ok', user: { userId: amy.id } });
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await signIn('smtp', spellings[i % 4]!, `guess ${i}`, `192.0.2.${10 + i}`));
    expect(results.filter((r) => r.kind === 'invalid')).toHaveLength(LOGIN_FAILURES_PER_ACCOUNT.max);
    expect(results.slice(LOGIN_FAILURES_PER_ACCOUNT.max).every((r) => r.kind === 'limited' && r.by === 'account')).toBe(true);
    expect(await count(LOGIN_FAILURES_PER_ACCOUNT, amy.address)).toBe(20);
    for (const channel of ['web', 'smtp', 'imap'] as const) {
      expect(await signIn(channel, amy.address, amy.password, '192.0.2.99')).toMatchObject({ kind: 'limited', by: 'account', retryAfterSeconds: expect.any(Number) });
    }
  });

  it('counts twenty parallel wrong passwords before checking any: only the allowed number is checked, all twenty are counted', async () => {
    const bea = await newUser('bea');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => signIn('web', bea.address, `parallel guess ${i}`, `198.51.100.${i + 1}`)));
    expect(results.filter((r) => r.kind === 'invalid')).toHaveLength(LOGIN_FAILURES_PER_ACCOUNT.max);
    expect(results.filter((r) => r.kind === 'limited')).toHaveLength(20 - LOGIN_FAILURES_PER_ACCOUNT.max);
    expect(await count(LOGIN_FAILURES_PER_ACCOUNT, bea.address)).toBe(20);
    expect(await signIn('web', bea.address, bea.password, '198.51.100.200')).toMatchObject({ kind: 'limited', by: 'account' });
  });

  it('a success takes back its own count only: failures counted before it stay', async () => {
    const cal = await newUser('cal');
    for (let i = 0; i < 3; i++) expect(await signIn('web', cal.address, `guess ${i}`)).toEqual({ kind: 'invalid' });
    expect(await signIn('web', cal.address, cal.password)).toMatchObject({ kind: 'ok' });
    expect(await count(LOGIN_FAILURES_PER_ACCOUNT, cal.address)).toBe(3);
  });

  it('limits IPv6 clients per /64 and IPv4-mapped IPv6 clients as their IPv4 address', async () => {
    const own = { ...deps, rules: rules(3, 1_000) };
    const guess = (ip: string) => signIn('smtp', 'zoe@auth.test', 'wrong', ip, own);
    for (const ip of ['2001:db8:1:2::1', '2001:db8:1:2:ffff::2', '2001:0db8:0001:0002:0000:0000:0000:0003']) expect(await guess(ip)).toEqual({ kind: 'invalid' });
    expect(await guess('2001:db8:1:2:abcd::9')).toMatchObject({ kind: 'limited', by: 'ip' });
    expect(await signIn('smtp', 'zoe@auth.test', 'zoe password', '2001:db8:1:3::1', own)).toMatchObject({ kind: 'ok' });

    for (const ip of ['::ffff:203.0.113.7', '203.0.113.7', '::ffff:cb00:7107']) expect(await guess(ip)).toEqual({ kind: 'invalid' });
    expect(await guess('203.0.113.7')).toMatchObject({ kind: 'limited', by: 'ip' });
    expect(await guess('203.0.113.8')).toEqual({ kind: 'invalid' });
  });

  it('counts a name that is no address against the client IP only, and audits no typed name for it', async () => {
    const own = { ...deps, rules: rules(2, 1_000) };
    for (const name of ['not an address', 'zoe']) expect(await signIn('imap', name, 'x', '192.0.2.77', own)).toEqual({ kind: 'invalid' });
    expect(await redis.keys(`rl:${own.rules.perAccount.name}:*`)).toEqual([]);
    expect(await signIn('imap', 'zoe@auth.test', 'zoe password', '192.0.2.77', own)).toMatchObject({ kind: 'limited', by: 'ip' });
    const rows = await store.db.selectFrom('audit_log').select('actor_address').where('action', '=', 'auth.imap_login_failed').where('ip', '=', '192.0.2.77').execute();
    expect(rows).toEqual([{ actor_address: null }, { actor_address: null }]);
  });

  it('audits no typed name when it is an address but no account (it may be a mistyped password)', async () => {
    for (const name of ['zoe-password-1@auth.test', 'zoe@auth.tset']) {
      expect(await authenticateClient(deps, 'web', { username: name, password: 'x', ip: '192.0.2.78' })).toEqual({ kind: 'invalid' });
    }
    const rows = await store.db.selectFrom('audit_log').select(['action', 'actor_address', 'actor_user_id']).where('ip', '=', '192.0.2.78').execute();
    expect(rows).toEqual([
      { action: 'auth.login_failed', actor_address: null, actor_user_id: null },
      { action: 'auth.login_failed', actor_address: null, actor_user_id: null },
    ]);
  });

  it('audits each attempt under the canonical address with the channel and the caller details', async () => {
    const dee = await newUser('dee');
    await authenticateClient(deps, 'smtp', { username: dee.address.toUpperCase() + '.', password: 'nope', ip: '192.0.2.5', details: { method: 'LOGIN' } });
    await authenticateClient(deps, 'web', { username: ` ${dee.address}`, password: dee.password, ip: '192.0.2.5' });
    const rows = await store.db.selectFrom('audit_log').select(['action', 'actor_address', 'actor_user_id', 'ip', 'details']).where('actor_address', '=', dee.address).orderBy('id').execute();
    expect(rows).toEqual([
      { action: 'auth.smtp_login_failed', actor_address: dee.address, actor_user_id: null, ip: '192.0.2.5', details: { method: 'LOGIN' } },
      { action: 'auth.login', actor_address: dee.address, actor_user_id: dee.id, ip: '192.0.2.5', details: {} },
    ]);
  });

  it('fails closed: when Redis cannot be reached it throws (the caller answers "try later"), never ok', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true });
    try {
      await expect(signIn('imap', 'zoe@auth.test', 'zoe password', '192.0.2.1', { db: store.db, limiter: createRateLimiter(dead) })).rejects.toThrow();
    } finally {
      dead.disconnect();
    }
  });
});

describe('confirmAccountPassword', () => {
  it("counts a wrong password against the account's sign-in limit, before checking it", async () => {
    const eve = await newUser('eve');
    const user = { userId: eve.id, address: eve.address };
    expect(await confirmAccountPassword(deps, user, eve.password)).toEqual({ kind: 'ok' });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => confirmAccountPassword(deps, user, `guess ${i}`)));
    expect(results.filter((r) => r.kind === 'invalid')).toHaveLength(LOGIN_FAILURES_PER_ACCOUNT.max);
    expect(await confirmAccountPassword(deps, user, eve.password)).toMatchObject({ kind: 'limited' });
    expect(await signIn('web', eve.address, eve.password)).toMatchObject({ kind: 'limited', by: 'account' });
  });
});
