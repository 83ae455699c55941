import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, type TestBackend } from '../../../../tests/helpers/backend.js';

let t: TestBackend;

beforeAll(async () => {
  t = await createTestBackend();
  await t.accounts.addDomain('api.test');
  await t.accounts.addUser({ address: 'amy@api.test', password: 'amy password' });
  await t.accounts.addUser({ address: 'locked@api.test', password: 'locked password' });
});
afterAll(async () => {
  await t.close();
});

describe('POST /api/auth/login', () => {
  it('sets an httpOnly SameSite session cookie and returns the user with a CSRF token', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: 'AMY@api.test', password: 'amy password' } });
    expect(res.statusCode).toBe(200);
    const cookie = res.cookies.find((c) => c.name === 'mailyard_session')!;
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Lax');
    expect(res.json()).toMatchObject({ address: 'amy@api.test', role: 'user', csrfToken: expect.any(String) });
    // Only a hash of the token is stored.
    const rows = await t.store.db.selectFrom('sessions').select('token_hash').execute();
    expect(rows.some((r) => r.token_hash.toString() === cookie.value)).toBe(false);
  });

  it('answers a wrong password or unknown address with the same 401 and records the failure', async () => {
    const wrong = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: 'amy@api.test', password: 'nope' } });
    const unknown = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: 'ghost@api.test', password: 'nope' } });
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'auth.invalid', message: 'wrong address or password' }, requestId: expect.any(String) });
    }
    // An existing account's failure names it; a name that is no account is not kept (it may be a mistyped password).
    const audit = await t.store.db.selectFrom('audit_log').select(['action', 'actor_address']).where('action', '=', 'auth.login_failed').execute();
    expect(audit.map((a) => a.actor_address)).toContain('amy@api.test');
    expect(audit.map((a) => a.actor_address)).not.toContain('ghost@api.test');
    expect(audit.filter((a) => a.actor_address === null)).toHaveLength(1);
  });

  it('rejects a malformed body with 400 request.invalid', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: 'amy@api.test' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('request.invalid');
  });

  it('locks an account out with 429 and Retry-After after repeated failures, even with the right password', async () => {
    for (let i = 0; i < 10; i++) {
      const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: 'locked@api.test', password: `guess ${i}` } });
      expect(res.statusCode).toBe(401);
    }
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: 'locked@api.test', password: 'locked password' } });
    expect(res.statusCode).toBe(429);
    expect(res.json().error.code).toBe('auth.rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('counts failed sign-ins under every spelling of an address against that one account: after 20 under four spellings, the right password gets 429', async () => {
    await t.accounts.addUser({ address: 'alice@api.test', password: 'alice password' });
    const spellings = ['alice@api.test.', 'alice@ api.test', 'ALICE@api.test', 'alice@\tapi.test'];
    const login = (address: string, password: string, ip: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { address, password } });
    const codes: number[] = [];
    for (let i = 0; i < 20; i++) codes.push((await login(spellings[i % 4]!, `guess ${i}`, `203.0.113.${i + 1}`)).statusCode);
    expect(codes.filter((c) => c === 401)).toHaveLength(10);
    expect(codes.slice(10).every((c) => c === 429)).toBe(true);
    for (const address of ['alice@api.test', ...spellings]) {
      const res = await login(address, 'alice password', '203.0.113.200');
      expect(res.statusCode, address).toBe(429);
      expect(res.json().error.code).toBe('auth.rate_limited');
    }
  });

  it('counts twenty parallel wrong passwords for one account before checking any: only ten are checked, then even the right password gets 429', async () => {
    await t.accounts.addUser({ address: 'para@api.test', password: 'para password' });
    const login = (password: string, ip: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { address: 'para@api.test', password } });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => login(`parallel guess ${i}`, `198.51.100.${i + 1}`)));
    const codes = results.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 401)).toHaveLength(10);
    expect(codes.filter((c) => c === 429)).toHaveLength(10);
    expect(Number(await t.redis.get('rl:login-account:para@api.test'))).toBe(20);
    expect((await login('para password', '198.51.100.200')).statusCode).toBe(429);
  });

  it('limits sign-in failures per client IPv6 /64: 30 from one /64, then its every address gets 429, another /64 does not', async () => {
    const login = (address: string, password: string, ip: string) => t.app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { address, password } });
    for (let i = 0; i < 30; i++) expect((await login(`nobody${i}@api.test`, 'guess', `2001:db8:77:1::${(i + 1).toString(16)}`)).statusCode).toBe(401);
    expect((await login('amy@api.test', 'amy password', '2001:db8:77:1:ffff::1')).statusCode).toBe(429);
    expect((await login('amy@api.test', 'amy password', '2001:db8:77:2::1')).statusCode).toBe(200);
  });
});

describe('sessions', () => {
  it('GET /api/me needs a session; logout revokes it', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/me' })).statusCode).toBe(401);
    const agent = await t.login('amy@api.test', 'amy password');
    const me = await t.app.inject({ method: 'GET', url: '/api/me', headers: { cookie: agent.cookie } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ id: agent.userId, address: 'amy@api.test' });
    const out = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: agent.headers });
    expect(out.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: '/api/me', headers: { cookie: agent.cookie } })).statusCode).toBe(401);
  });

  it('refuses a cookie-authenticated write without the CSRF header (403)', async () => {
    const agent = await t.login('amy@api.test', 'amy password');
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie: agent.cookie } });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('auth.csrf');
    const wrong = await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { cookie: agent.cookie, 'x-csrf-token': 'forged' } });
    expect(wrong.statusCode).toBe(403);
  });

  it('a disabled user\'s session stops working', async () => {
    await t.accounts.addUser({ address: 'temp@api.test', password: 'temp password' });
    const agent = await t.login('temp@api.test', 'temp password');
    await t.store.db.updateTable('users').set({ disabled: true }).where('id', '=', agent.userId).execute();
    expect((await t.app.inject({ method: 'GET', url: '/api/me', headers: { cookie: agent.cookie } })).statusCode).toBe(401);
  });
});

describe('platform routes', () => {
  it('serves the OpenAPI document with the fixed paths, and a JSON 404 for unknown routes', async () => {
    const doc = await t.app.inject({ method: 'GET', url: '/api/docs/json' });
    expect(doc.statusCode).toBe(200);
    const paths = Object.keys(doc.json().paths);
    for (const p of ['/api/auth/login', '/api/auth/logout', '/api/me', '/api/mailboxes', '/api/mailboxes/{id}/messages', '/api/messages/{id}', '/api/messages/{id}/raw']) expect(paths).toContain(p);
    const missing = await t.app.inject({ method: 'GET', url: '/api/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'route.not_found' } });
  });
  it('reports readiness of PostgreSQL and Redis', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.json()).toEqual({ status: 'ready', checks: { postgres: true, redis: true } });
  });
});
