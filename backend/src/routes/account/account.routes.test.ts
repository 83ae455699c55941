import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { APP_PASSWORD_PATTERN, authenticateClient, base32Decode, createRateLimiter, totp, TOTP_STEP_SECONDS } from '@mailyard/core';
import { createTestBackend, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';

let t: TestBackend;
const DOMAIN = 'acct.test';

beforeAll(async () => {
  t = await createTestBackend();
  await t.accounts.addDomain(DOMAIN);
});
afterAll(async () => {
  await t.close();
});

let userSeq = 0;
/** A fresh user per test, so rate limits and TOTP state never leak between tests. */
async function newUser(prefix: string, password = `${prefix} password`): Promise<{ address: string; password: string; id: number }> {
  const address = `${prefix}${++userSeq}@${DOMAIN}`;
  const user = await t.accounts.addUser({ address, password });
  return { address, password, id: user.id };
}

async function signIn(prefix: string): Promise<Agent & { password: string }> {
  const user = await newUser(prefix);
  return { ...(await t.login(user.address, user.password)), password: user.password };
}

function post(agent: Agent, url: string, payload?: object) {
  return t.app.inject({ method: 'POST', url, headers: agent.headers, ...(payload ? { payload } : {}) });
}

function get(agent: Agent, url: string) {
  return t.app.inject({ method: 'GET', url, headers: { cookie: agent.cookie } });
}

/** Sign-in as a mail client (IMAP/SMTP rules: app passwords allowed), through core's authenticateClient. */
function mailClientSignIn(address: string, password: string) {
  return authenticateClient({ db: t.store.db, limiter: createRateLimiter(t.redis) }, 'imap', { username: address, password, ip: '127.0.0.1' });
}

async function auditActions(userId: number): Promise<string[]> {
  const rows = await t.store.db.selectFrom('audit_log').select('action').where('actor_user_id', '=', userId).orderBy('id').execute();
  return rows.map((r) => r.action);
}

// 401 without a session and 403 without the CSRF header, on every route: tests/security/route-security.test.ts.
describe('account routes', () => {
  it('lists the account routes in the OpenAPI document', async () => {
    const paths = Object.keys((await t.app.inject({ method: 'GET', url: '/api/docs/json' })).json().paths);
    for (const p of ['/api/account/password', '/api/account/totp', '/api/account/totp/setup', '/api/account/totp/enable', '/api/account/totp/disable', '/api/account/app-passwords', '/api/account/app-passwords/{id}', '/api/auth/totp']) {
      expect(paths).toContain(p);
    }
  });
});

describe('POST /api/account/password', () => {
  it('changes the password: the new one signs in, the old one no longer does', async () => {
    const agent = await signIn('pw');
    const res = await post(agent, '/api/account/password', { currentPassword: agent.password, newPassword: 'a brand new password' });
    expect(res.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: agent.address, password: agent.password } })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: agent.address, password: 'a brand new password' } })).statusCode).toBe(200);
    const hash = await t.store.db.selectFrom('users').select('password_hash').where('id', '=', agent.userId).executeTakeFirstOrThrow();
    expect(hash.password_hash).toMatch(/^\$argon2id\$/);
  });

  it("revokes every other session of the user, keeps the current one, and leaves other users' sessions alone", async () => {
    const user = await newUser('revoke');
    const current = await t.login(user.address, user.password);
    const otherDevice = await t.login(user.address, user.password);
    const thirdDevice = await t.login(user.address, user.password);
    const stranger = await signIn('stranger');
    const res = await post(current, '/api/account/password', { currentPassword: user.password, newPassword: 'another new password' });
    expect(res.statusCode).toBe(204);
    expect((await get(current, '/api/me')).statusCode).toBe(200);
    expect((await get(otherDevice, '/api/me')).statusCode).toBe(401);
    expect((await get(thirdDevice, '/api/me')).statusCode).toBe(401);
    expect((await get(stranger, '/api/me')).statusCode).toBe(200);
    const audit = await t.store.db.selectFrom('audit_log').selectAll().where('actor_user_id', '=', user.id).where('action', '=', 'account.password_changed').executeTakeFirstOrThrow();
    expect(audit.details).toEqual({ revokedSessions: 2, revokedAppPasswords: 0 });
  });

  it('refuses a wrong current password with 403 auth.invalid and keeps the old password and sessions', async () => {
    const agent = await signIn('wrongpw');
    const other = await t.login(agent.address, agent.password);
    const res = await post(agent, '/api/account/password', { currentPassword: 'not my password', newPassword: 'a brand new password' });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: 'auth.invalid' }, requestId: expect.any(String) });
    expect((await get(other, '/api/me')).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: agent.address, password: agent.password } })).statusCode).toBe(200);
    expect(await auditActions(agent.userId)).toContain('account.password_change_failed');
  });

  it("counts wrong current passwords toward the account's sign-in limit (then 429, even for sign-in with the right password)", async () => {
    const agent = await signIn('pwlimit');
    for (let i = 0; i < 10; i++) {
      expect((await post(agent, '/api/account/password', { currentPassword: `guess ${i}`, newPassword: 'a brand new password' })).statusCode).toBe(403);
    }
    const limited = await post(agent, '/api/account/password', { currentPassword: agent.password, newPassword: 'a brand new password' });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('auth.rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: agent.address, password: agent.password } });
    expect(login.statusCode).toBe(429);
  });

  it("enforces core's password rules on the new password (400 password.invalid)", async () => {
    const agent = await signIn('weak');
    for (const newPassword of ['short', 'x'.repeat(1025)]) {
      const res = await post(agent, '/api/account/password', { currentPassword: agent.password, newPassword });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('password.invalid');
    }
    expect((await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: agent.address, password: agent.password } })).statusCode).toBe(200);
  });

  it('rejects a malformed body with 400 request.invalid', async () => {
    const agent = await signIn('badpw');
    for (const payload of [{}, { currentPassword: agent.password }, { currentPassword: '', newPassword: 'long enough pw' }, { currentPassword: 1, newPassword: 'long enough pw' }]) {
      const res = await post(agent, '/api/account/password', payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.code).toBe('request.invalid');
    }
  });
});

describe('TOTP second factor', () => {
  // Date is frozen (timers stay real) so every code belongs to a known 30-second step; moving to
  // the next step is a clock change, never a wait.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const stepMs = TOTP_STEP_SECONDS * 1000;
    vi.setSystemTime(Math.floor(Date.now() / stepMs) * stepMs + 1000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const nextStep = () => vi.setSystemTime(Date.now() + TOTP_STEP_SECONDS * 1000);
  const codeNow = (key: Buffer) => totp(key, Date.now());
  /** A well-formed code that matches none of the steps the server accepts right now. */
  const wrongCode = (key: Buffer) => {
    const valid = new Set([-1, 0, 1].map((d) => totp(key, Date.now() + d * TOTP_STEP_SECONDS * 1000)));
    let n = Number(codeNow(key));
    let code: string;
    do {
      n = (n + 1) % 1_000_000;
      code = String(n).padStart(6, '0');
    } while (valid.has(code));
    return code;
  };

  async function setUp(agent: Agent & { password: string }): Promise<Buffer> {
    const res = await post(agent, '/api/account/totp/setup', { password: agent.password });
    expect(res.statusCode).toBe(200);
    return base32Decode(res.json().secret);
  }

  async function enable(agent: Agent & { password: string }): Promise<Buffer> {
    const key = await setUp(agent);
    expect((await post(agent, '/api/account/totp/enable', { code: codeNow(key) })).statusCode).toBe(204);
    return key;
  }

  /** Password step of a TOTP account: a session that waits for the code. */
  async function loginPending(address: string, password: string): Promise<Agent> {
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address, password } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({ mfaRequired: true, csrfToken: expect.any(String) });
    const cookie = `mailyard_session=${res.cookies.find((c) => c.name === 'mailyard_session')!.value}`;
    return { userId: 0, address, cookie, csrf: body.csrfToken, headers: { cookie, 'x-csrf-token': body.csrfToken } };
  }

  it('setup returns a base32 secret and an otpauth URL, but does not turn TOTP on until a code is confirmed', async () => {
    const agent = await signIn('setup');
    const res = await post(agent, '/api/account/totp/setup', { password: agent.password });
    expect(res.statusCode).toBe(200);
    const { secret, otpauthUrl } = res.json();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const url = new URL(otpauthUrl);
    expect(url.protocol).toBe('otpauth:');
    expect(decodeURIComponent(url.pathname)).toBe(`/Mailyard:${agent.address}`);
    expect(url.searchParams.get('secret')).toBe(secret);
    // Sealed at rest: the database holds neither the base32 secret nor its bytes in any readable form.
    const stored = await t.store.db.selectFrom('users').select('totp_secret').where('id', '=', agent.userId).executeTakeFirstOrThrow();
    expect(stored.totp_secret).toMatch(/^v1:[A-Za-z0-9_-]+$/);
    expect(stored.totp_secret).not.toContain(secret);
    expect((await get(agent, '/api/account/totp')).json()).toEqual({ enabled: false, pendingSetup: true });
    // Not enabled yet: sign-in still completes with the password alone.
    expect((await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: agent.address, password: agent.password } })).json()).toMatchObject({ id: agent.userId });
  });

  it('setup needs the account password: missing is 400, wrong is 403 auth.invalid (audited) and sets nothing up', async () => {
    const agent = await signIn('setuppw');
    const missing = await post(agent, '/api/account/totp/setup');
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.code).toBe('request.invalid');
    const wrong = await post(agent, '/api/account/totp/setup', { password: 'not the password' });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().error.code).toBe('auth.invalid');
    expect((await get(agent, '/api/account/totp')).json()).toEqual({ enabled: false, pendingSetup: false });
    expect(await auditActions(agent.userId)).toContain('account.totp_setup_failed');
  });

  it("enable signs out every other session of the user, keeps the current one, and leaves other users' alone", async () => {
    const user = await newUser('enrevoke');
    const current = { ...(await t.login(user.address, user.password)), password: user.password };
    const otherDevice = await t.login(user.address, user.password);
    const stranger = await signIn('enstranger');
    await enable(current);
    expect((await get(current, '/api/me')).statusCode).toBe(200);
    expect((await get(otherDevice, '/api/me')).statusCode).toBe(401);
    expect((await get(stranger, '/api/me')).statusCode).toBe(200);
    const audit = await t.store.db.selectFrom('audit_log').selectAll().where('actor_user_id', '=', user.id).where('action', '=', 'account.totp_enabled').executeTakeFirstOrThrow();
    expect(audit.details).toEqual({ revokedSessions: 1 });
  });

  it('enable refuses a wrong code with 400 totp.invalid and leaves TOTP off', async () => {
    const agent = await signIn('enwrong');
    const key = await setUp(agent);
    const res = await post(agent, '/api/account/totp/enable', { code: wrongCode(key) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('totp.invalid');
    expect((await get(agent, '/api/account/totp')).json()).toEqual({ enabled: false, pendingSetup: true });
  });

  it('enable before setup is refused with 409 totp.not_set_up', async () => {
    const agent = await signIn('nosetup');
    const res = await post(agent, '/api/account/totp/enable', { code: '123456' });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('totp.not_set_up');
  });

  it('rejects codes that are not 6 digits with 400 request.invalid', async () => {
    const agent = await signIn('badcode');
    await setUp(agent);
    for (const payload of [{}, { code: '12345' }, { code: '1234567' }, { code: 'abcdef' }, { code: 123456 }]) {
      const res = await post(agent, '/api/account/totp/enable', payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.code).toBe('request.invalid');
    }
  });

  it('enable turns TOTP on with a valid code (audited); a new setup is then refused with 409 until it is turned off', async () => {
    const agent = await signIn('enable');
    await enable(agent);
    expect((await get(agent, '/api/account/totp')).json()).toEqual({ enabled: true, pendingSetup: false });
    const again = await post(agent, '/api/account/totp/setup', { password: agent.password });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('totp.already_enabled');
    expect(await auditActions(agent.userId)).toEqual(expect.arrayContaining(['account.totp_setup', 'account.totp_enabled']));
  });

  it('sign-in to a TOTP account needs the code: end to end', async () => {
    const agent = await signIn('e2e');
    const key = await enable(agent);
    nextStep();
    const pending = await loginPending(agent.address, agent.password);
    const done = await post(pending, '/api/auth/totp', { code: codeNow(key) });
    expect(done.statusCode).toBe(200);
    expect(done.json()).toEqual({ id: agent.userId, address: agent.address, role: 'user', csrfToken: pending.csrf });
    // The cookie is re-issued with the full session lifetime.
    const renewed = done.cookies.find((c) => c.name === 'mailyard_session')!;
    expect(renewed.expires!.getTime() - Date.now()).toBeGreaterThan(24 * 3600 * 1000);
    expect((await get(pending, '/api/me')).statusCode).toBe(200);
    expect((await get(pending, '/api/mailboxes')).statusCode).toBe(200);
    const session = await t.store.db.selectFrom('sessions').select(['mfa_pending', 'expires_at']).where('user_id', '=', agent.userId).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(session.mfa_pending).toBe(false);
    expect(await auditActions(agent.userId)).toEqual(expect.arrayContaining(['auth.login_mfa_pending', 'auth.login']));
  });

  it('a session waiting for its code is refused everywhere else with 401 auth.mfa_required', async () => {
    const agent = await signIn('pending');
    await enable(agent);
    const pending = await loginPending(agent.address, agent.password);
    for (const url of ['/api/me', '/api/mailboxes', '/api/account/app-passwords', '/api/account/totp']) {
      const res = await get(pending, url);
      expect(res.statusCode, url).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'auth.mfa_required' }, requestId: expect.any(String) });
    }
    const write = await post(pending, '/api/account/app-passwords', { name: 'sneaky', password: agent.password });
    expect(write.statusCode).toBe(401);
    expect(write.json().error.code).toBe('auth.mfa_required');
    const session = await t.store.db.selectFrom('sessions').select(['mfa_pending', 'expires_at']).where('user_id', '=', agent.userId).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(session.mfa_pending).toBe(true);
    expect(session.expires_at.getTime() - Date.now()).toBeLessThanOrEqual(10 * 60 * 1000);
  });

  it('a wrong code is refused with 401 totp.invalid, audited, and the session stays pending', async () => {
    const agent = await signIn('loginwrong');
    const key = await enable(agent);
    nextStep();
    const pending = await loginPending(agent.address, agent.password);
    const res = await post(pending, '/api/auth/totp', { code: wrongCode(key) });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('totp.invalid');
    expect((await get(pending, '/api/me')).json().error.code).toBe('auth.mfa_required');
    expect(await auditActions(agent.userId)).toContain('auth.totp_failed');
    expect((await post(pending, '/api/auth/totp', { code: codeNow(key) })).statusCode).toBe(200);
  });

  it('refuses a code that was already accepted, and any code from an earlier step (totp.replayed)', async () => {
    const agent = await signIn('replay');
    const key = await setUp(agent);
    const first = codeNow(key);
    expect((await post(agent, '/api/account/totp/enable', { code: first })).statusCode).toBe(204);
    const pending = await loginPending(agent.address, agent.password);
    const replayed = await post(pending, '/api/auth/totp', { code: first });
    expect(replayed.statusCode).toBe(401);
    expect(replayed.json().error.code).toBe('totp.replayed');
    // The next step's code is fresh; after it, the previous step's code (still inside the window) is not.
    nextStep();
    const previous = totp(key, Date.now() - TOTP_STEP_SECONDS * 1000);
    expect((await post(pending, '/api/auth/totp', { code: codeNow(key) })).statusCode).toBe(200);
    const second = await loginPending(agent.address, agent.password);
    const older = await post(second, '/api/auth/totp', { code: previous });
    expect(older.statusCode).toBe(401);
    expect(older.json().error.code).toBe('totp.replayed');
  });

  it('accepts the code of the previous or next step (clock skew), but not two steps away', async () => {
    const agent = await signIn('skew');
    const key = await setUp(agent);
    const stepMs = TOTP_STEP_SECONDS * 1000;
    const tooOld = await post(agent, '/api/account/totp/enable', { code: totp(key, Date.now() - 2 * stepMs) });
    expect(tooOld.json().error.code).toBe('totp.invalid');
    expect((await post(agent, '/api/account/totp/enable', { code: totp(key, Date.now() - stepMs) })).statusCode).toBe(204);
    const pending = await loginPending(agent.address, agent.password);
    expect((await post(pending, '/api/auth/totp', { code: totp(key, Date.now() + 2 * stepMs) })).json().error.code).toBe('totp.invalid');
    expect((await post(pending, '/api/auth/totp', { code: totp(key, Date.now() + stepMs) })).statusCode).toBe(200);
  });

  it('locks code attempts per account after 5 wrong codes: then 429 even for the right code', async () => {
    const agent = await signIn('totplimit');
    const key = await enable(agent);
    nextStep();
    const pending = await loginPending(agent.address, agent.password);
    for (let i = 0; i < 5; i++) expect((await post(pending, '/api/auth/totp', { code: wrongCode(key) })).statusCode).toBe(401);
    const res = await post(pending, '/api/auth/totp', { code: codeNow(key) });
    expect(res.statusCode).toBe(429);
    expect(res.json().error.code).toBe('auth.rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    // The limit is the account's, not the session's: a fresh sign-in is locked too.
    const again = await loginPending(agent.address, agent.password);
    expect((await post(again, '/api/auth/totp', { code: codeNow(key) })).statusCode).toBe(429);
  });

  it('counts parallel wrong codes before checking any: of eight at once, five are checked and three get 429', async () => {
    const agent = await signIn('totppar');
    const key = await enable(agent);
    nextStep();
    const pending = await loginPending(agent.address, agent.password);
    const results = await Promise.all(Array.from({ length: 8 }, () => post(pending, '/api/auth/totp', { code: wrongCode(key) })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    expect((await post(pending, '/api/auth/totp', { code: codeNow(key) })).statusCode).toBe(429);
  });

  it('a right code takes back only its own count: wrong codes before it stay counted', async () => {
    const agent = await signIn('totpkeep');
    const key = await enable(agent);
    nextStep();
    const first = await loginPending(agent.address, agent.password);
    for (let i = 0; i < 4; i++) expect((await post(first, '/api/auth/totp', { code: wrongCode(key) })).statusCode).toBe(401);
    expect((await post(first, '/api/auth/totp', { code: codeNow(key) })).statusCode).toBe(200);
    nextStep();
    const second = await loginPending(agent.address, agent.password);
    expect((await post(second, '/api/auth/totp', { code: wrongCode(key) })).statusCode).toBe(401);
    expect((await post(second, '/api/auth/totp', { code: codeNow(key) })).statusCode).toBe(429);
  });

  it('POST /api/auth/totp needs the CSRF header, and is refused for a session that is already complete (409)', async () => {
    const agent = await signIn('totpcsrf');
    const key = await enable(agent);
    nextStep();
    const pending = await loginPending(agent.address, agent.password);
    const noCsrf = await t.app.inject({ method: 'POST', url: '/api/auth/totp', headers: { cookie: pending.cookie }, payload: { code: codeNow(key) } });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json().error.code).toBe('auth.csrf');
    const complete = await post(agent, '/api/auth/totp', { code: codeNow(key) });
    expect(complete.statusCode).toBe(409);
    expect(complete.json().error.code).toBe('auth.mfa_not_pending');
    expect((await t.app.inject({ method: 'POST', url: '/api/auth/totp', payload: { code: codeNow(key) } })).statusCode).toBe(401);
  });

  it('a session waiting for its code can sign out', async () => {
    const agent = await signIn('pendingout');
    await enable(agent);
    const pending = await loginPending(agent.address, agent.password);
    expect((await post(pending, '/api/auth/logout')).statusCode).toBe(204);
    const after = await post(pending, '/api/auth/totp', { code: '123456' });
    expect(after.statusCode).toBe(401);
    expect(after.json().error.code).toBe('auth.required');
  });

  it('disable needs the password (403 auth.invalid) and a valid code (400 totp.invalid); afterwards sign-in needs no code', async () => {
    const agent = await signIn('disable');
    const key = await enable(agent);
    nextStep();
    const wrongPassword = await post(agent, '/api/account/totp/disable', { password: 'not my password', code: codeNow(key) });
    expect(wrongPassword.statusCode).toBe(403);
    expect(wrongPassword.json().error.code).toBe('auth.invalid');
    const badCode = await post(agent, '/api/account/totp/disable', { password: agent.password, code: wrongCode(key) });
    expect(badCode.statusCode).toBe(400);
    expect(badCode.json().error.code).toBe('totp.invalid');
    expect((await get(agent, '/api/account/totp')).json().enabled).toBe(true);
    expect((await post(agent, '/api/account/totp/disable', { password: agent.password, code: codeNow(key) })).statusCode).toBe(204);
    expect((await get(agent, '/api/account/totp')).json()).toEqual({ enabled: false, pendingSetup: false });
    const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: agent.address, password: agent.password } });
    expect(login.json()).toMatchObject({ id: agent.userId, address: agent.address });
    const row = await t.store.db.selectFrom('users').select(['totp_secret', 'totp_enabled']).where('id', '=', agent.userId).executeTakeFirstOrThrow();
    expect(row).toEqual({ totp_secret: null, totp_enabled: false });
    expect(await auditActions(agent.userId)).toEqual(expect.arrayContaining(['account.totp_disable_failed', 'account.totp_disabled']));
    const notOn = await post(agent, '/api/account/totp/disable', { password: agent.password, code: codeNow(key) });
    expect(notOn.statusCode).toBe(409);
    expect(notOn.json().error.code).toBe('totp.not_enabled');
  });

  it('a session left waiting when TOTP is turned off cannot be completed', async () => {
    const agent = await signIn('stale');
    const key = await enable(agent);
    const pending = await loginPending(agent.address, agent.password);
    nextStep();
    expect((await post(agent, '/api/account/totp/disable', { password: agent.password, code: codeNow(key) })).statusCode).toBe(204);
    nextStep();
    const res = await post(pending, '/api/auth/totp', { code: codeNow(key) });
    expect(res.statusCode).toBe(401);
    expect((await get(pending, '/api/me')).statusCode).toBe(401);
  });
});

describe('app passwords', () => {
  it('creates one shown once (4 groups of 4), stores only its argon2id hash, and lists it without password or hash', async () => {
    const agent = await signIn('apcreate');
    const res = await post(agent, '/api/account/app-passwords', { name: '  Thunderbird  ', password: agent.password });
    expect(res.statusCode).toBe(201);
    const created = res.json();
    expect(created).toEqual({ id: expect.any(Number), name: 'Thunderbird', password: expect.stringMatching(APP_PASSWORD_PATTERN) });
    const list = await get(agent, '/api/account/app-passwords');
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({ appPasswords: [{ id: created.id, name: 'Thunderbird', createdAt: expect.any(String), lastUsedAt: null }] });
    expect(list.body).not.toContain(created.password);
    expect(list.body).not.toContain('argon2');
    const row = await t.store.db.selectFrom('app_passwords').select('password_hash').where('id', '=', created.id).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$argon2id\$/);
    expect(await auditActions(agent.userId)).toContain('account.app_password_created');
  });

  it('needs the account password: missing is 400, wrong is 403 auth.invalid (audited) and creates nothing', async () => {
    const agent = await signIn('apconfirm');
    const missing = await post(agent, '/api/account/app-passwords', { name: 'Phone' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.code).toBe('request.invalid');
    const wrong = await post(agent, '/api/account/app-passwords', { name: 'Phone', password: 'not my password' });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json()).toMatchObject({ error: { code: 'auth.invalid' }, requestId: expect.any(String) });
    expect((await get(agent, '/api/account/app-passwords')).json().appPasswords).toEqual([]);
    expect(await auditActions(agent.userId)).toEqual(['auth.login', 'account.app_password_create_failed']);
  });

  it("counts wrong passwords when creating one toward the account's sign-in limit (then 429, even with the right password)", async () => {
    const agent = await signIn('aplimit');
    for (let i = 0; i < 10; i++) expect((await post(agent, '/api/account/app-passwords', { name: 'Phone', password: `guess ${i}` })).statusCode).toBe(403);
    const limited = await post(agent, '/api/account/app-passwords', { name: 'Phone', password: agent.password });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('auth.rate_limited');
    expect((await get(agent, '/api/account/app-passwords')).json().appPasswords).toEqual([]);
    expect((await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: agent.address, password: agent.password } })).statusCode).toBe(429);
  });

  it("a password change revokes all of the user's app passwords (audited), and leaves other users' alone", async () => {
    const agent = await signIn('aprotate');
    const other = await signIn('apkeep');
    const first = (await post(agent, '/api/account/app-passwords', { name: 'Phone', password: agent.password })).json();
    const second = (await post(agent, '/api/account/app-passwords', { name: 'Laptop', password: agent.password })).json();
    const others = (await post(other, '/api/account/app-passwords', { name: 'Phone', password: other.password })).json();
    expect((await post(agent, '/api/account/password', { currentPassword: agent.password, newPassword: 'a brand new password' })).statusCode).toBe(204);
    expect((await get(agent, '/api/account/app-passwords')).json().appPasswords).toEqual([]);
    expect(await mailClientSignIn(agent.address, first.password)).toEqual({ kind: 'invalid' });
    expect(await mailClientSignIn(agent.address, second.password)).toEqual({ kind: 'invalid' });
    expect(await mailClientSignIn(other.address, others.password)).toMatchObject({ kind: 'ok', user: { userId: other.userId } });
    const audit = await t.store.db.selectFrom('audit_log').select('details').where('actor_user_id', '=', agent.userId).where('action', '=', 'account.password_changed').executeTakeFirstOrThrow();
    expect(audit.details).toMatchObject({ revokedAppPasswords: 2 });
  });

  it('works where app passwords are allowed (IMAP/SMTP) but never for web sign-in', async () => {
    const agent = await signIn('apweb');
    const { password } = (await post(agent, '/api/account/app-passwords', { name: 'Phone', password: agent.password })).json();
    const web = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { address: agent.address, password } });
    expect(web.statusCode).toBe(401);
    expect(await mailClientSignIn(agent.address, password)).toMatchObject({ kind: 'ok', user: { userId: agent.userId } });
    const [listed] = (await get(agent, '/api/account/app-passwords')).json().appPasswords;
    expect(listed.lastUsedAt).toEqual(expect.any(String));
  });

  it('refuses a second app password with the same name for the same user (409), but another user may use the name', async () => {
    const agent = await signIn('apdup');
    const other = await signIn('apdup');
    expect((await post(agent, '/api/account/app-passwords', { name: 'Laptop', password: agent.password })).statusCode).toBe(201);
    const dup = await post(agent, '/api/account/app-passwords', { name: 'Laptop', password: agent.password });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('app_password.exists');
    expect((await post(other, '/api/account/app-passwords', { name: 'Laptop', password: other.password })).statusCode).toBe(201);
  });

  it('rejects a missing, blank or overlong name with 400 request.invalid', async () => {
    const agent = await signIn('apbad');
    for (const payload of [{}, { name: '' }, { name: '   ' }, { name: 'x'.repeat(101) }, { name: 7 }].map((p) => ({ ...p, password: agent.password }))) {
      const res = await post(agent, '/api/account/app-passwords', payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.code).toBe('request.invalid');
    }
    expect((await get(agent, '/api/account/app-passwords')).json().appPasswords).toEqual([]);
  });

  it('revoking one removes it from the list, stops it working for IMAP/SMTP, and is audited', async () => {
    const agent = await signIn('aprevoke');
    const created = (await post(agent, '/api/account/app-passwords', { name: 'Old phone', password: agent.password })).json();
    const res = await t.app.inject({ method: 'DELETE', url: `/api/account/app-passwords/${created.id}`, headers: agent.headers });
    expect(res.statusCode).toBe(204);
    expect((await get(agent, '/api/account/app-passwords')).json().appPasswords).toEqual([]);
    expect(await mailClientSignIn(agent.address, created.password)).toEqual({ kind: 'invalid' });
    expect(await auditActions(agent.userId)).toEqual(expect.arrayContaining(['account.app_password_created', 'account.app_password_revoked']));
    const again = await t.app.inject({ method: 'DELETE', url: `/api/account/app-passwords/${created.id}`, headers: agent.headers });
    expect(again.statusCode).toBe(404);
    expect(again.json().error.code).toBe('app_password.not_found');
  });

  it("user B cannot delete user A's app password (404) and A's keeps working", async () => {
    const a = await signIn('apowner');
    const b = await signIn('apthief');
    const created = (await post(a, '/api/account/app-passwords', { name: 'Desktop', password: a.password })).json();
    const res = await t.app.inject({ method: 'DELETE', url: `/api/account/app-passwords/${created.id}`, headers: b.headers });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('app_password.not_found');
    expect((await get(a, '/api/account/app-passwords')).json().appPasswords.map((p: { id: number }) => p.id)).toEqual([created.id]);
    expect((await get(b, '/api/account/app-passwords')).json().appPasswords).toEqual([]);
    expect(await mailClientSignIn(a.address, created.password)).toMatchObject({ kind: 'ok', user: { userId: a.userId } });
  });

  it('rejects a malformed id with 400 request.invalid', async () => {
    const agent = await signIn('apid');
    for (const id of ['abc', '0', '-1', '1.5']) {
      const res = await t.app.inject({ method: 'DELETE', url: `/api/account/app-passwords/${id}`, headers: agent.headers });
      expect(res.statusCode, id).toBe(400);
      expect(res.json().error.code).toBe('request.invalid');
    }
  });

  it('caps a user at 20 app passwords (409 app_password.limit)', async () => {
    const agent = await signIn('apcap');
    for (let i = 0; i < 20; i++) expect((await post(agent, '/api/account/app-passwords', { name: `client ${i}`, password: agent.password })).statusCode).toBe(201);
    const res = await post(agent, '/api/account/app-passwords', { name: 'one too many', password: agent.password });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('app_password.limit');
  });
});
