import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticateClient, createRateLimiter, resolveRecipient } from '@mailyard/core';
import { createTestBackend, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { mayUseSenderAddress } from '../../../../core/src/mail/recipient-routing.js';

let t: TestBackend;
let admin: Agent;
let dadmin: Agent;
let plain: Agent;
let otherUserId: number;
let ownUserId: number;

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

function call(agent: Agent | null, method: Method, url: string, payload?: unknown) {
  return t.app.inject({ method, url, headers: agent ? agent.headers : {}, ...(payload === undefined ? {} : { payload: payload as object }) });
}

async function domainId(name: string): Promise<number> {
  return (await t.store.db.selectFrom('domains').select('id').where('name', '=', name).executeTakeFirstOrThrow()).id;
}

beforeAll(async () => {
  t = await createTestBackend();
  await t.accounts.addDomain('a.test');
  await t.accounts.addDomain('b.test');
  await t.accounts.addUser({ address: 'root@a.test', password: 'root password', role: 'admin' });
  const da = await t.accounts.addUser({ address: 'boss@a.test', password: 'boss password', role: 'domain-admin' });
  await t.store.db.insertInto('domain_admins').values({ user_id: da.id, domain_id: await domainId('a.test') }).execute();
  await t.accounts.addUser({ address: 'joe@a.test', password: 'joe password' });
  ownUserId = (await t.accounts.addUser({ address: 'sue@a.test', password: 'sue password' })).id;
  otherUserId = (await t.accounts.addUser({ address: 'bob@b.test', password: 'bob password' })).id;
  admin = await t.login('root@a.test', 'root password');
  dadmin = await t.login('boss@a.test', 'boss password');
  plain = await t.login('joe@a.test', 'joe password');
});
afterAll(async () => {
  await t.close();
});

// Anonymous, plain-user and CSRF refusals of every admin route: tests/security/route-security.test.ts (from the route table).

describe('domains', () => {
  it('lets an admin list, add and remove domains, with 4xx for bad, duplicate, unknown and non-empty ones', async () => {
    const created = await call(admin, 'POST', '/api/admin/domains', { name: 'New.Test' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: 'new.test' });
    expect((await call(admin, 'GET', '/api/admin/domains')).json().domains.map((d: { name: string }) => d.name)).toEqual(['a.test', 'b.test', 'new.test']);
    expect((await call(admin, 'POST', '/api/admin/domains', { name: 'new.test' })).json().error.code).toBe('domain.exists');
    const bad = await call(admin, 'POST', '/api/admin/domains', { name: 'not a domain' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('domain.invalid');
    expect((await call(admin, 'POST', '/api/admin/domains', {})).statusCode).toBe(400);
    const notEmpty = await call(admin, 'DELETE', '/api/admin/domains/b.test');
    expect(notEmpty.statusCode).toBe(409);
    expect(notEmpty.json().error.code).toBe('domain.not_empty');
    expect((await call(admin, 'DELETE', '/api/admin/domains/new.test')).statusCode).toBe(200);
    const gone = await call(admin, 'DELETE', '/api/admin/domains/new.test');
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.code).toBe('domain.not_found');
  });

  it('lets an admin relax the inbound checks of a domain (PATCH), one key at a time; others get 403, bad values 400', async () => {
    const relaxed = await call(admin, 'PATCH', '/api/admin/domains/b.test', { dmarcReject: 'quarantine' });
    expect(relaxed.statusCode).toBe(200);
    expect(relaxed.json()).toMatchObject({ name: 'b.test', trustPolicy: { dmarcReject: 'quarantine', ownDomainSpoofing: 'reject' } });
    expect((await call(admin, 'PATCH', '/api/admin/domains/b.test', { ownDomainSpoofing: 'ignore' })).json().trustPolicy).toEqual({ dmarcReject: 'quarantine', ownDomainSpoofing: 'ignore', greylisting: 'on' });
    expect((await call(admin, 'PATCH', '/api/admin/domains/b.test', { greylisting: 'off' })).json().trustPolicy).toEqual({ dmarcReject: 'quarantine', ownDomainSpoofing: 'ignore', greylisting: 'off' });
    expect((await call(admin, 'PATCH', '/api/admin/domains/b.test', { greylisting: 'sometimes' })).statusCode).toBe(400);
    expect((await call(admin, 'PATCH', '/api/admin/domains/b.test', { dmarcReject: 'sometimes' })).statusCode).toBe(400);
    expect((await call(admin, 'PATCH', '/api/admin/domains/b.test', {})).statusCode).toBe(400);
    expect((await call(admin, 'PATCH', '/api/admin/domains/nowhere.test', { dmarcReject: 'ignore' })).statusCode).toBe(404);
    expect((await call(dadmin, 'PATCH', '/api/admin/domains/a.test', { dmarcReject: 'ignore' })).statusCode).toBe(403);
    await call(admin, 'PATCH', '/api/admin/domains/b.test', { dmarcReject: 'enforce', ownDomainSpoofing: 'reject', greylisting: 'on' });
  });

  it('shows a domain-admin only their domains and forbids them to add or remove domains', async () => {
    expect((await call(dadmin, 'GET', '/api/admin/domains')).json().domains.map((d: { name: string }) => d.name)).toEqual(['a.test']);
    const add = await call(dadmin, 'POST', '/api/admin/domains', { name: 'mine.test' });
    expect(add.statusCode).toBe(403);
    expect(add.json().error.code).toBe('auth.forbidden');
    expect((await call(dadmin, 'DELETE', '/api/admin/domains/a.test')).statusCode).toBe(403);
  });
});

describe('users', () => {
  it('lets an admin create, list, update and delete users without ever exposing secrets', async () => {
    const created = await call(admin, 'POST', '/api/admin/users', { address: 'Amy@B.test', password: 'amy password', role: 'domain-admin' });
    expect(created.statusCode).toBe(201);
    const amy = created.json();
    expect(amy).toMatchObject({ address: 'amy@b.test', domain: 'b.test', role: 'domain-admin', disabled: false, quotaBytes: null });
    const list = await call(admin, 'GET', '/api/admin/users?domain=b.test');
    expect(list.json().users.map((u: { address: string }) => u.address)).toEqual(['amy@b.test', 'bob@b.test']);
    expect(list.body).not.toMatch(/password_hash|passwordHash|totp_secret|totpSecret|\$argon|\$2[aby]\$/);
    const patched = await call(admin, 'PATCH', `/api/admin/users/${amy.id}`, { role: 'user', quotaBytes: 1_000_000 });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ role: 'user', quotaBytes: 1_000_000 });
    expect((await call(admin, 'PATCH', `/api/admin/users/${amy.id}`, { quotaBytes: null })).json().quotaBytes).toBeNull();
    expect((await call(admin, 'DELETE', `/api/admin/users/${amy.id}`)).statusCode).toBe(200);
    expect((await call(admin, 'DELETE', `/api/admin/users/${amy.id}`)).statusCode).toBe(404);
  });

  it('rejects bad user input with 4xx codes from the accounts rules', async () => {
    const cases: Array<[Method, string, unknown, number, string]> = [
      ['POST', '/api/admin/users', { address: 'x@a.test' }, 400, 'request.invalid'],
      ['POST', '/api/admin/users', { address: 'not-an-address', password: 'long password' }, 400, 'address.invalid'],
      ['POST', '/api/admin/users', { address: 'x@a.test', password: 'short' }, 400, 'password.invalid'],
      ['POST', '/api/admin/users', { address: 'x@a.test', password: 'long password', role: 'emperor' }, 400, 'request.invalid'],
      ['POST', '/api/admin/users', { address: 'sue@a.test', password: 'long password' }, 409, 'user.exists'],
      ['POST', '/api/admin/users', { address: 'x@nowhere.test', password: 'long password' }, 404, 'domain.not_found'],
      ['PATCH', `/api/admin/users/${ownUserId}`, {}, 400, 'request.invalid'],
      ['PATCH', `/api/admin/users/${ownUserId}`, { quotaBytes: -1 }, 400, 'request.invalid'],
      ['PATCH', `/api/admin/users/${ownUserId}`, { password: 'short' }, 400, 'password.invalid'],
      ['PATCH', '/api/admin/users/abc', { disabled: true }, 400, 'request.invalid'],
      ['PATCH', '/api/admin/users/999999', { disabled: true }, 404, 'user.not_found'],
      ['GET', '/api/admin/users?domain=nowhere.test', undefined, 404, 'domain.not_found'],
      ['PATCH', `/api/admin/users/${admin.userId}`, { disabled: true }, 409, 'admin.self'],
      ['DELETE', `/api/admin/users/${admin.userId}`, undefined, 409, 'admin.self'],
    ];
    for (const [method, url, payload, status, code] of cases) {
      const res = await call(admin, method, url, payload);
      expect(res.statusCode, `${method} ${url} ${JSON.stringify(payload)}`).toBe(status);
      expect(res.json().error.code, `${method} ${url} ${JSON.stringify(payload)}`).toBe(code);
    }
  });

  it('lets a domain-admin manage users of their domain only; other domains look absent', async () => {
    const list = await call(dadmin, 'GET', '/api/admin/users');
    const addresses = list.json().users.map((u: { address: string }) => u.address);
    expect(addresses).toContain('sue@a.test');
    expect(addresses).not.toContain('bob@b.test');
    const created = await call(dadmin, 'POST', '/api/admin/users', { address: 'kim@a.test', password: 'kim password' });
    expect(created.statusCode).toBe(201);
    expect((await call(dadmin, 'PATCH', `/api/admin/users/${created.json().id}`, { quotaBytes: 5000 })).json().quotaBytes).toBe(5000);
    expect((await call(dadmin, 'DELETE', `/api/admin/users/${created.json().id}`)).statusCode).toBe(200);

    for (const [method, url, payload] of [
      ['PATCH', `/api/admin/users/${otherUserId}`, { disabled: true }],
      ['DELETE', `/api/admin/users/${otherUserId}`, undefined],
      ['GET', '/api/admin/users?domain=b.test', undefined],
      ['POST', '/api/admin/users', { address: 'evil@b.test', password: 'long password' }],
    ] as Array<[Method, string, unknown]>) {
      const res = await call(dadmin, method, url, payload);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
    }
    expect((await t.accounts.requireUser('bob@b.test')).disabled).toBe(false);
  });

  it('forbids a domain-admin to grant the admin role or to touch an admin account', async () => {
    const grant = await call(dadmin, 'PATCH', `/api/admin/users/${ownUserId}`, { role: 'admin' });
    expect(grant.statusCode).toBe(403);
    expect(grant.json().error.code).toBe('auth.forbidden');
    const create = await call(dadmin, 'POST', '/api/admin/users', { address: 'king@a.test', password: 'long password', role: 'admin' });
    expect(create.statusCode).toBe(403);
    expect((await call(dadmin, 'PATCH', `/api/admin/users/${admin.userId}`, { disabled: true })).statusCode).toBe(403);
    expect((await t.accounts.requireUser('sue@a.test')).role).toBe('user');
    expect((await t.accounts.requireUser('root@a.test')).disabled).toBe(false);
  });

  it('ends every session of a user who is disabled, and lets them sign in again only when re-enabled', async () => {
    const sue = await t.login('sue@a.test', 'sue password');
    expect((await call(sue, 'GET', '/api/me')).statusCode).toBe(200);
    expect((await call(admin, 'PATCH', `/api/admin/users/${ownUserId}`, { disabled: true })).json().disabled).toBe(true);
    expect((await call(sue, 'GET', '/api/me')).statusCode).toBe(401);
    await expect(t.login('sue@a.test', 'sue password')).rejects.toThrow();
    await call(admin, 'PATCH', `/api/admin/users/${ownUserId}`, { disabled: false });
    expect((await call(await t.login('sue@a.test', 'sue password'), 'GET', '/api/me')).statusCode).toBe(200);
    const stillValid = await t.store.db.selectFrom('sessions').select('id').where('user_id', '=', ownUserId).execute();
    expect(stillValid).toHaveLength(1);
  });

  it('ends every session of a user whose password an admin resets; the new password works', async () => {
    const sue = await t.login('sue@a.test', 'sue password');
    expect((await call(dadmin, 'PATCH', `/api/admin/users/${ownUserId}`, { password: 'fresh password' })).statusCode).toBe(200);
    expect((await call(sue, 'GET', '/api/me')).statusCode).toBe(401);
    await expect(t.login('sue@a.test', 'sue password')).rejects.toThrow();
    await t.login('sue@a.test', 'fresh password');
  });

  it("revokes every app password of a user whose password an admin resets (audited), and only that user's", async () => {
    const signInAsClient = (address: string, password: string) => authenticateClient({ db: t.store.db, limiter: createRateLimiter(t.redis) }, 'smtp', { username: address, password, ip: '127.0.0.1' });
    const tomId = (await t.accounts.addUser({ address: 'tom@a.test', password: 'tom password' })).id;
    const tom = await t.login('tom@a.test', 'tom password');
    const joeApp = (await call(plain, 'POST', '/api/account/app-passwords', { name: 'Phone', password: 'joe password' })).json();
    const tomApps = [];
    for (const name of ['Phone', 'Laptop']) tomApps.push((await call(tom, 'POST', '/api/account/app-passwords', { name, password: 'tom password' })).json());
    expect(await signInAsClient('tom@a.test', tomApps[0].password)).toMatchObject({ kind: 'ok' });
    expect((await call(dadmin, 'PATCH', `/api/admin/users/${tomId}`, { password: 'tom reset password' })).statusCode).toBe(200);
    for (const app of tomApps) expect(await signInAsClient('tom@a.test', app.password)).toEqual({ kind: 'invalid' });
    expect(await t.store.db.selectFrom('app_passwords').select('id').where('user_id', '=', tomId).execute()).toEqual([]);
    expect(await signInAsClient('joe@a.test', joeApp.password)).toMatchObject({ kind: 'ok', user: { userId: plain.userId } });
    const entry = await t.store.db.selectFrom('audit_log').select('details').where('action', '=', 'admin.user.update').where('target', '=', 'tom@a.test').executeTakeFirstOrThrow();
    expect(entry.details).toMatchObject({ passwordReset: true, revokedAppPasswords: 2 });
  });
});

describe('aliases', () => {
  it('lets an admin add, list and remove aliases with 4xx for bad, duplicate and unknown ones', async () => {
    const created = await call(admin, 'POST', '/api/admin/aliases', { address: 'info@b.test', target: 'bob@b.test' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ address: 'info@b.test', targetUserId: otherUserId, targetAddress: 'bob@b.test' });
    expect((await call(admin, 'GET', '/api/admin/aliases')).json().aliases.map((a: { address: string }) => a.address)).toContain('info@b.test');
    expect((await call(admin, 'POST', '/api/admin/aliases', { address: 'info@b.test', target: 'bob@b.test' })).statusCode).toBe(409);
    expect((await call(admin, 'POST', '/api/admin/aliases', { address: 'x@b.test', target: 'nobody@b.test' })).json().error.code).toBe('user.not_found');
    expect((await call(admin, 'POST', '/api/admin/aliases', { address: 'bad', target: 'bob@b.test' })).json().error.code).toBe('address.invalid');
    expect((await call(admin, 'POST', '/api/admin/aliases', { address: 'x@b.test' })).statusCode).toBe(400);
    expect((await call(admin, 'DELETE', '/api/admin/aliases/info@b.test')).statusCode).toBe(200);
    const gone = await call(admin, 'DELETE', '/api/admin/aliases/info@b.test');
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.code).toBe('alias.not_found');
  });

  it('lets a domain-admin manage aliases of their domain only; other domains look absent', async () => {
    expect((await call(dadmin, 'POST', '/api/admin/aliases', { address: 'help@a.test', target: 'sue@a.test' })).statusCode).toBe(201);
    await t.accounts.addAlias('sales@b.test', 'bob@b.test');
    const list = (await call(dadmin, 'GET', '/api/admin/aliases')).json().aliases.map((a: { address: string }) => a.address);
    expect(list).toContain('help@a.test');
    expect(list).not.toContain('sales@b.test');
    expect((await call(dadmin, 'DELETE', '/api/admin/aliases/sales@b.test')).statusCode).toBe(404);
    expect((await call(dadmin, 'POST', '/api/admin/aliases', { address: 'x@b.test', target: 'bob@b.test' })).statusCode).toBe(404);
    expect((await call(dadmin, 'POST', '/api/admin/aliases', { address: 'bob2@a.test', target: 'bob@b.test' })).json().error.code).toBe('user.not_found');
    expect((await call(dadmin, 'DELETE', '/api/admin/aliases/help@a.test')).statusCode).toBe(200);
    expect((await call(admin, 'GET', '/api/admin/aliases')).json().aliases.map((a: { address: string }) => a.address)).toContain('sales@b.test');
  });

  it('manages a catch-all alias (@domain) for an admin and for a domain-admin of that domain only', async () => {
    const byAdmin = await call(admin, 'POST', '/api/admin/aliases', { address: '@B.test', target: 'bob@b.test' });
    expect(byAdmin.statusCode).toBe(201);
    expect(byAdmin.json()).toMatchObject({ address: '@b.test', targetUserId: otherUserId, targetAddress: 'bob@b.test' });
    expect(await resolveRecipient(t.store.db, 'whoever@b.test')).toMatchObject({ kind: 'local', userId: otherUserId });
    expect((await call(admin, 'POST', '/api/admin/aliases', { address: '@b.test', target: 'bob@b.test' })).json().error.code).toBe('alias.exists');
    expect((await call(admin, 'POST', '/api/admin/aliases', { address: '@nowhere', target: 'bob@b.test' })).json().error.code).toBe('address.invalid');
    // a domain-admin of a.test: its own catch-all works, b.test's looks absent
    const byDadmin = await call(dadmin, 'POST', '/api/admin/aliases', { address: '@a.test', target: 'sue@a.test' });
    expect(byDadmin.statusCode).toBe(201);
    expect(byDadmin.json()).toMatchObject({ address: '@a.test', targetUserId: ownUserId });
    expect(await resolveRecipient(t.store.db, 'whoever@a.test')).toMatchObject({ kind: 'local', userId: ownUserId });
    const list = (await call(dadmin, 'GET', '/api/admin/aliases')).json().aliases.map((a: { address: string }) => a.address);
    expect(list).toContain('@a.test');
    expect(list).not.toContain('@b.test');
    expect((await call(dadmin, 'POST', '/api/admin/aliases', { address: '@b.test', target: 'sue@a.test' })).statusCode).toBe(404);
    expect((await call(dadmin, 'DELETE', '/api/admin/aliases/@b.test')).statusCode).toBe(404);
    expect((await call(dadmin, 'DELETE', '/api/admin/aliases/@a.test')).statusCode).toBe(200);
    expect((await call(admin, 'DELETE', '/api/admin/aliases/@b.test')).statusCode).toBe(200);
    expect(await resolveRecipient(t.store.db, 'whoever@a.test')).toMatchObject({ kind: 'unknown' });
    expect(await resolveRecipient(t.store.db, 'whoever@b.test')).toMatchObject({ kind: 'unknown' });
  });
});

describe('domain-admin escalation: a domain-admin changes only users whose every scope is within their own', () => {
  it('forbids (403) resetting the password of, disabling, demoting or deleting a co-admin who also manages another domain, and changes nothing', async () => {
    const cora = await t.accounts.addUser({ address: 'cora@a.test', password: 'cora password', role: 'domain-admin' });
    await t.store.db.insertInto('domain_admins').values([{ user_id: cora.id, domain_id: await domainId('a.test') }, { user_id: cora.id, domain_id: await domainId('b.test') }]).execute();
    const coraSession = await t.login('cora@a.test', 'cora password');
    for (const [method, payload] of [
      ['PATCH', { password: 'taken over password' }],
      ['PATCH', { disabled: true }],
      ['PATCH', { role: 'user' }],
      ['PATCH', { quotaBytes: 1 }],
      ['DELETE', undefined],
    ] as Array<[Method, unknown]>) {
      const res = await call(dadmin, method, `/api/admin/users/${cora.id}`, payload);
      expect(res.statusCode, `${method} ${JSON.stringify(payload)}`).toBe(403);
      expect(res.json().error.code).toBe('auth.forbidden');
    }
    for (const method of ['POST', 'DELETE'] as const) expect((await call(dadmin, method, '/api/admin/domain-admins', { userId: cora.id, domain: 'a.test' })).statusCode).toBe(403);
    const after = await t.accounts.requireUser('cora@a.test');
    expect(after).toMatchObject({ role: 'domain-admin', disabled: false });
    expect((await call(coraSession, 'GET', '/api/me')).statusCode).toBe(200);
    await t.login('cora@a.test', 'cora password');
    const grants = await t.store.db.selectFrom('domain_admins').select('domain_id').where('user_id', '=', cora.id).execute();
    expect(grants).toHaveLength(2);
    // An admin still may.
    expect((await call(admin, 'PATCH', `/api/admin/users/${cora.id}`, { role: 'user' })).statusCode).toBe(200);
    expect((await call(admin, 'DELETE', `/api/admin/users/${cora.id}`)).statusCode).toBe(200);
  });

  it('still lets a domain-admin change a co-admin of their own domains only', async () => {
    const dana = await t.accounts.addUser({ address: 'dana@a.test', password: 'dana password', role: 'domain-admin' });
    await t.store.db.insertInto('domain_admins').values({ user_id: dana.id, domain_id: await domainId('a.test') }).execute();
    expect((await call(dadmin, 'PATCH', `/api/admin/users/${dana.id}`, { password: 'dana new password' })).statusCode).toBe(200);
    expect((await call(dadmin, 'DELETE', `/api/admin/users/${dana.id}`)).statusCode).toBe(200);
  });

  it('a catch-all a domain-admin points at themselves receives but does not let them send as the domain; only an admin may allow sending', async () => {
    const own = await call(dadmin, 'POST', '/api/admin/aliases', { address: '@a.test', target: 'boss@a.test' });
    expect(own.statusCode).toBe(201);
    expect(own.json()).toMatchObject({ address: '@a.test', targetUserId: dadmin.userId, allowSend: false });
    expect(await resolveRecipient(t.store.db, 'ceo@a.test')).toMatchObject({ kind: 'local', userId: dadmin.userId });
    expect(await mayUseSenderAddress(t.store.db, dadmin.userId, 'ceo@a.test')).toBe(false);
    expect((await call(dadmin, 'DELETE', '/api/admin/aliases/@a.test')).statusCode).toBe(200);

    const refused = await call(dadmin, 'POST', '/api/admin/aliases', { address: '@a.test', target: 'boss@a.test', allowSend: true });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.code).toBe('auth.forbidden');
    expect((await call(admin, 'GET', '/api/admin/aliases')).json().aliases.map((a: { address: string }) => a.address)).not.toContain('@a.test');
    expect(await mayUseSenderAddress(t.store.db, dadmin.userId, 'ceo@a.test')).toBe(false);

    const allowed = await call(admin, 'POST', '/api/admin/aliases', { address: 'press@a.test', target: 'sue@a.test', allowSend: true });
    expect(allowed.statusCode).toBe(201);
    expect(allowed.json()).toMatchObject({ address: 'press@a.test', allowSend: true });
    expect(await mayUseSenderAddress(t.store.db, ownUserId, 'press@a.test')).toBe(true);
    expect((await call(admin, 'DELETE', '/api/admin/aliases/press@a.test')).statusCode).toBe(200);
  });
});

describe('domain-admin grants', () => {
  it('lets an admin grant and revoke a domain, which widens and narrows what the grantee sees', async () => {
    const grant = await call(admin, 'POST', '/api/admin/domain-admins', { userId: dadmin.userId, domain: 'b.test' });
    expect(grant.statusCode).toBe(201);
    expect((await call(dadmin, 'GET', '/api/admin/domains')).json().domains.map((d: { name: string }) => d.name)).toEqual(['a.test', 'b.test']);
    expect((await call(dadmin, 'GET', '/api/admin/users?domain=b.test')).statusCode).toBe(200);
    expect((await call(admin, 'POST', '/api/admin/domain-admins', { userId: dadmin.userId, domain: 'b.test' })).statusCode).toBe(409);
    expect((await call(admin, 'DELETE', '/api/admin/domain-admins', { userId: dadmin.userId, domain: 'b.test' })).statusCode).toBe(200);
    expect((await call(dadmin, 'GET', '/api/admin/users?domain=b.test')).statusCode).toBe(404);
    expect((await call(admin, 'DELETE', '/api/admin/domain-admins', { userId: dadmin.userId, domain: 'b.test' })).statusCode).toBe(404);
  });

  it('rejects unknown users and domains and bad input, and forbids domain-admins to grant', async () => {
    expect((await call(admin, 'POST', '/api/admin/domain-admins', { userId: 999999, domain: 'a.test' })).json().error.code).toBe('user.not_found');
    expect((await call(admin, 'POST', '/api/admin/domain-admins', { userId: dadmin.userId, domain: 'nowhere.test' })).json().error.code).toBe('domain.not_found');
    expect((await call(admin, 'POST', '/api/admin/domain-admins', { userId: 'x', domain: 'a.test' })).statusCode).toBe(400);
    const self = await call(dadmin, 'POST', '/api/admin/domain-admins', { userId: dadmin.userId, domain: 'b.test' });
    expect(self.statusCode).toBe(403);
    expect(self.json().error.code).toBe('auth.forbidden');
  });
});

describe('audit log', () => {
  it('records every admin write with actor, target and ip, readable by an admin page by page', async () => {
    await call(admin, 'POST', '/api/admin/domains', { name: 'audit.test' });
    await call(dadmin, 'POST', '/api/admin/users', { address: 'zed@a.test', password: 'zed password' });
    const res = await call(admin, 'GET', '/api/admin/audit?limit=500');
    expect(res.statusCode).toBe(200);
    const entries = res.json().entries as Array<{ id: number; action: string; target: string; actorAddress: string; ip: string | null }>;
    expect(entries.find((e) => e.action === 'admin.domain.create' && e.target === 'audit.test')).toMatchObject({ actorAddress: 'root@a.test', ip: expect.any(String) });
    expect(entries.find((e) => e.action === 'admin.user.create' && e.target === 'zed@a.test')).toMatchObject({ actorAddress: 'boss@a.test' });
    const actions = new Set(entries.map((e) => e.action));
    for (const a of ['admin.domain.delete', 'admin.user.update', 'admin.user.delete', 'admin.alias.create', 'admin.alias.delete', 'admin.domain_admin.grant', 'admin.domain_admin.revoke']) {
      expect(actions, a).toContain(a);
    }
    const page1 = (await call(admin, 'GET', '/api/admin/audit?limit=2')).json();
    expect(page1.entries).toHaveLength(2);
    const page2 = (await call(admin, 'GET', `/api/admin/audit?limit=2&before=${page1.nextBefore}`)).json();
    expect(page2.entries[0].id).toBeLessThan(page1.entries[1].id);
  });

  it('does not record refused writes', async () => {
    await call(dadmin, 'POST', '/api/admin/domains', { name: 'refused.test' });
    const entries = (await call(admin, 'GET', '/api/admin/audit?limit=500')).json().entries as Array<{ target: string }>;
    expect(entries.some((e) => e.target === 'refused.test')).toBe(false);
  });

  it('shows a domain-admin only the entries about their domains; a plain user gets 403; bad paging input 400', async () => {
    await call(admin, 'POST', '/api/admin/users', { address: 'ann2@b.test', password: 'ann2 password' });
    await call(dadmin, 'POST', '/api/admin/users', { address: 'amy@a.test', password: 'amy password' });
    const user = await t.login('joe@a.test', 'joe password');
    await t.login('bob@b.test', 'bob password');
    const res = await call(dadmin, 'GET', '/api/admin/audit?limit=500');
    expect(res.statusCode).toBe(200);
    const entries = res.json().entries as Array<{ action: string; target: string | null; actorAddress: string | null }>;
    expect(entries.some((e) => e.target === 'amy@a.test' && e.action === 'admin.user.create')).toBe(true);
    expect(entries.filter((e) => e.target === "ann2@b.test")).toEqual([]);
    expect(entries.some((e) => e.target === 'audit.test')).toBe(false);
    // Sign-ins (no target) of the domain's own users, not of others.
    expect(entries.some((e) => e.action === 'auth.login' && e.actorAddress === 'joe@a.test')).toBe(true);
    expect(entries.some((e) => e.actorAddress === 'bob@b.test')).toBe(false);
    for (const e of entries) expect(`${e.target} ${e.actorAddress}`).toMatch(/(^|@)a\.test\b/);
    expect((await call(user, 'GET', '/api/admin/audit')).statusCode).toBe(403);
    expect((await call(admin, 'GET', '/api/admin/audit?limit=0')).statusCode).toBe(400);
    expect((await call(admin, 'GET', '/api/admin/audit?before=x')).statusCode).toBe(400);
  });
});
