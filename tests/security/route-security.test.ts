import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionService } from '@mailyard/core';
import { createTestBackend, type Agent, type TestBackend } from '../helpers/backend.js';
import { concreteUrl, routeTable, type RouteEntry } from '../helpers/route-table.js';

/**
 * Route security from the backend's own route table, so a route added later is covered without
 * anyone remembering to list it: every route other than the public ones below answers 401 without a
 * session, every write needs the CSRF header as well, and every admin route refuses a plain user.
 */

const AUTOCONFIG = 'mail client autoconfiguration: asked before the client has any session, answers only public server settings';
const API_DOCS = 'the OpenAPI document and its UI: public descriptions only, switched off with API_DOCS=off';
/** The routes open without a session, each with the reason it may be. */
const PUBLIC: Record<string, string> = {
  'POST /api/auth/login': 'sign-in itself',
  'GET /': 'the webmail page: a static shell with no data in it',
  'GET /*': 'webmail pages and assets; /api/* paths under it answer 404 (webmail.plugin.test.ts)',
  'GET /healthz': 'liveness probe: answers only "ok"',
  'GET /api/messages/:id/attachments/:index/inline': 'inline images for the sandboxed reader frame, which sends no cookie: only through a link signed for that user and part, for an hour (message-render.routes.test.ts)',
  'GET /readyz': 'readiness probe: answers only whether PostgreSQL and Redis answer',
  'GET /metrics': 'guarded by METRICS_TOKEN rather than a session (metrics.plugin.test.ts)',
  'GET /.well-known/autoconfig/mail/config-v1.1.xml': AUTOCONFIG,
  'GET /mail/config-v1.1.xml': AUTOCONFIG,
  'GET /autodiscover/autodiscover.xml': AUTOCONFIG,
  'POST /autodiscover/autodiscover.xml': `${AUTOCONFIG} (Outlook POSTs its request; nothing is changed)`,
  'GET /.well-known/mta-sts.txt': 'the MTA-STS policy: sending servers fetch it anonymously, and it is public by design',
  'GET /.well-known/acme-challenge/:token': 'ACME HTTP-01: the CA fetches the key authorization anonymously; it answers only pending tokens',
  'GET /api/docs': API_DOCS,
  'GET /api/docs/': API_DOCS,
  'GET /api/docs/*': API_DOCS,
  'GET /api/docs/json': API_DOCS,
  'GET /api/docs/yaml': API_DOCS,
  'GET /api/docs/static/index.html': API_DOCS,
  'GET /api/docs/static/swagger-initializer.js': API_DOCS,
};

const SAFE = new Set(['GET', 'HEAD']);
const key = (r: RouteEntry) => `${r.method} ${r.url}`;

let t: TestBackend;
let routes: RouteEntry[];
let plain: Agent;
let pending: Agent;

/** One request to a route with its parameters filled in, a JSON body for writes. */
function hit(route: RouteEntry, headers: Record<string, string>, payload: object = {}) {
  const method = route.method as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  return t.app.inject({ method, url: concreteUrl(route.url), headers, ...(SAFE.has(method) ? {} : { payload }) });
}

/** A digest of every table's rows (sessions' last-seen time left out: reads may touch it). */
async function databaseDigest(): Promise<Record<string, string>> {
  const tables = await sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`.execute(t.store.db);
  const digest: Record<string, string> = {};
  for (const { name } of tables.rows) {
    const row = await sql<{ h: string }>`SELECT md5(coalesce(string_agg((to_jsonb(x) - 'last_seen_at')::text, '|' ORDER BY (to_jsonb(x) - 'last_seen_at')::text), '')) AS h FROM ${sql.table(name)} x`.execute(t.store.db);
    digest[name] = row.rows[0]!.h;
  }
  return digest;
}

function expectErrorBody(res: { json(): unknown }, code: string, what: string) {
  expect(res.json(), what).toEqual({ error: { code, message: expect.any(String) }, requestId: expect.any(String) });
}

beforeAll(async () => {
  t = await createTestBackend({ apiDocs: true });
  routes = routeTable(t.app);
  await t.accounts.addDomain('sec.test');
  await t.accounts.addUser({ address: 'plain@sec.test', password: 'plain password' });
  const waiting = await t.accounts.addUser({ address: 'waiting@sec.test', password: 'waiting password' });
  plain = await t.login('plain@sec.test', 'plain password');
  // A session that still waits for its second factor, made as the password step makes it.
  const session = await createSessionService({ db: t.store.db }).create(waiting.id, { ip: '127.0.0.1', mfaPending: true });
  const cookie = `mailyard_session=${session.token}`;
  pending = { userId: waiting.id, address: 'waiting@sec.test', cookie, csrf: session.csrfToken, headers: { cookie, 'x-csrf-token': session.csrfToken } };
});
afterAll(async () => {
  await t?.close();
});

describe('the route table', () => {
  it('is read from the app, and every public route listed here exists in it', () => {
    expect(routes.length).toBeGreaterThan(60);
    expect(routes.map(key)).toContain('POST /api/admin/domains/:name/dkim/rotate');
    expect(Object.keys(PUBLIC).filter((k) => !routes.some((r) => key(r) === k))).toEqual([]);
  });

  it('has no public /api route other than sign-in, signed inline images and the API document', () => {
    const publicApi = routes.filter((r) => r.url.startsWith('/api') && PUBLIC[key(r)]).map(key);
    expect(publicApi.filter((k) => PUBLIC[k] !== API_DOCS).sort()).toEqual(['GET /api/messages/:id/attachments/:index/inline', 'POST /api/auth/login']);
  });
});

describe('without a session', () => {
  it('answers 401 auth.required with the error body on every non-public route, and changes nothing', async () => {
    const before = await databaseDigest();
    for (const route of routes.filter((r) => !PUBLIC[key(r)])) {
      const res = await hit(route, {});
      expect(res.statusCode, key(route)).toBe(401);
      expectErrorBody(res, 'auth.required', key(route));
      // A CSRF header without a session is no better.
      expect((await hit(route, { 'x-csrf-token': plain.csrf })).statusCode, key(route)).toBe(401);
    }
    expect(await databaseDigest()).toEqual(before);
  });
});

describe('with a session but no CSRF header', () => {
  it('answers 403 auth.csrf on every non-GET route (missing or wrong header), and changes nothing', async () => {
    const writes = routes.filter((r) => !SAFE.has(r.method) && !PUBLIC[key(r)]);
    expect(writes.length).toBeGreaterThan(30);
    const before = await databaseDigest();
    for (const route of writes) {
      for (const agent of [plain, pending]) {
        // No header, a wrong one, and another session's token.
        const attempts: Array<Record<string, string>> = [{ cookie: agent.cookie }, { cookie: agent.cookie, 'x-csrf-token': `${agent.csrf}x` }, { cookie: agent.cookie, 'x-csrf-token': agent === plain ? pending.csrf : plain.csrf }];
        for (const headers of attempts) {
          const res = await hit(route, headers);
          const what = `${key(route)} as ${agent.address} with ${JSON.stringify(Object.keys(headers))}`;
          // A session waiting for its code is refused as a half session first, on every route but the code step.
          if (agent === pending && res.statusCode === 401) {
            expectErrorBody(res, 'auth.mfa_required', what);
            continue;
          }
          expect(res.statusCode, what).toBe(403);
          expectErrorBody(res, 'auth.csrf', what);
        }
      }
    }
    expect(await databaseDigest()).toEqual(before);
  });
});

describe('a session waiting for its second factor', () => {
  it('is refused with 401 auth.mfa_required everywhere but the code step and sign-out', async () => {
    const halfOpen = new Set(['POST /api/auth/totp', 'POST /api/auth/logout']);
    for (const route of routes.filter((r) => !PUBLIC[key(r)] && !halfOpen.has(key(r)))) {
      const res = await hit(route, pending.headers);
      expect(res.statusCode, key(route)).toBe(401);
      expectErrorBody(res, 'auth.mfa_required', key(route));
    }
  });
});

describe('admin routes', () => {
  it('give a plain user 403 auth.forbidden, with no input, bad input or good-looking input', async () => {
    const admin = routes.filter((r) => r.url.startsWith('/api/admin/'));
    expect(admin.map(key)).toContain('POST /api/admin/domains/:name/dkim/rotate');
    const before = await databaseDigest();
    for (const route of admin) {
      for (const payload of [{}, { nonsense: true, name: 42 }, { name: 'x.test', address: 'new@sec.test', password: 'long password', domain: 'sec.test', userId: plain.userId }]) {
        const res = await hit(route, plain.headers, payload);
        expect(res.statusCode, key(route)).toBe(403);
        expectErrorBody(res, 'auth.forbidden', key(route));
      }
    }
    expect(await databaseDigest()).toEqual(before);
  });
});
