import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, type Agent, type TestBackend } from '../../../tests/helpers/backend.js';
import { fuzzParams, fuzzTimeout } from '../../../tests/helpers/fuzz.js';
import { routeTable, type RouteEntry } from '../../../tests/helpers/route-table.js';

/**
 * Fuzzing every API route from the route table with bad input, as a signed-in admin with the CSRF
 * header (so the input reaches validation and the handlers): wrong types, missing and unknown
 * fields, odd path parameters and query strings, malformed JSON, other content types and huge
 * bodies. The answer is always a 4xx with `{ error: { code, message }, requestId }` (or a success
 * when the input happens to be valid), never a 500. Field names come from the OpenAPI document, so
 * the fuzzing knows each route's fields. `npm run fuzz` runs the random part many more times.
 */

/** Routes left out, each with its reason. */
const LEFT_OUT: Record<string, string> = {
  'GET /api/events': 'an endless event stream once accepted; its bad input is tested in events.routes.test.ts',
  'POST /api/auth/logout': 'ends the session the fuzzing runs on (it takes no input)',
};

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
}
interface Operation {
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
}

interface Target {
  route: RouteEntry;
  bodyFields: string[];
  queryFields: string[];
}

let t: TestBackend;
let admin: Agent;
let targets: Target[];
let admins = 0;

/** A new signed-in admin (the fuzzing may disable, demote or delete the last one). */
async function newAdmin(): Promise<Agent> {
  admins++;
  await t.accounts.addUser({ address: `root${admins}@m.test`, password: 'root password', role: 'admin' });
  admin = await t.login(`root${admins}@m.test`, 'root password');
  return admin;
}

beforeAll(async () => {
  t = await createTestBackend({ apiDocs: true });
  await t.accounts.addDomain('m.test');
  await t.accounts.addUser({ address: 'ann@m.test', password: 'ann password' });
  await newAdmin();
  const doc = (await t.app.inject({ method: 'GET', url: '/api/docs/json' })).json() as { paths: Record<string, Record<string, Operation>> };
  targets = routeTable(t.app)
    .filter((r) => r.url.startsWith('/api/') && !r.url.startsWith('/api/docs') && !LEFT_OUT[`${r.method} ${r.url}`])
    .map((route) => {
      const op = doc.paths[route.url.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()];
      const body = op?.requestBody?.content['application/json']?.schema;
      return { route, bodyFields: Object.keys(body?.properties ?? {}), queryFields: (op?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name) };
    });
});
afterAll(async () => {
  await t?.close();
});

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Attempt {
  params: string[];
  query?: string;
  payload?: string | Buffer;
  contentType?: string;
}

function urlOf(route: RouteEntry, attempt: Attempt): string {
  let i = 0;
  const path = route.url.replace(/:\w+/g, () => attempt.params[i++ % Math.max(attempt.params.length, 1)] ?? '1');
  return attempt.query === undefined ? path : `${path}?${attempt.query}`;
}

/** Sends one attempt as the admin; again as a new admin when the fuzzing cost the admin its session or role. */
async function send(target: Target, attempt: Attempt) {
  const once = (agent: Agent) => {
    const headers: Record<string, string> = { ...agent.headers };
    if (attempt.payload !== undefined) headers['content-type'] = attempt.contentType ?? 'application/json';
    return t.app.inject({ method: target.route.method as Method, url: urlOf(target.route, attempt), headers, ...(attempt.payload === undefined ? {} : { payload: attempt.payload }) });
  };
  const res = await once(admin);
  if (res.statusCode !== 401 && res.statusCode !== 403) return res;
  const me = await t.app.inject({ method: 'GET', url: '/api/me', headers: admin.headers });
  return me.statusCode === 200 && me.json().role === 'admin' ? res : once(await newAdmin());
}

/** Sends one attempt and checks the answer: a success, or a 4xx with the error body; never a 5xx. */
async function expectNoServerError(target: Target, attempt: Attempt): Promise<void> {
  const res = await send(target, attempt);
  const what = `${target.route.method} ${urlOf(target.route, attempt).slice(0, 200)} ${String(attempt.payload ?? '').slice(0, 200)} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
  expect(res.statusCode, what).toBeLessThan(500);
  if (res.statusCode >= 400) {
    expect(res.json(), what).toEqual({ error: { code: expect.any(String), message: expect.any(String) }, requestId: expect.any(String) });
  }
}

/** Values of every JSON type, including the ones validators mishandle. */
const WRONG_VALUES: unknown[] = [null, true, 0, -1, 1.5, 1e308, -0, '', ' ', 'x'.repeat(10_000), '\u0000', '<script>', [], [1, 'a', null], {}, { nested: { deep: [] } }, '2026-13-45', 'NaN', '__proto__'];
const jsonValue = fc.oneof(fc.constantFrom(...WRONG_VALUES), fc.jsonValue({ maxDepth: 3 }));
/** The few every route and field gets in the exhaustive pass (the random pass tries the rest). */
const EACH_FIELD: unknown[] = [null, 1.5, '', '\u0000', [], {}, 'x'.repeat(10_000)];

const PARAM_VALUES = ['0', '-1', '1.5', 'abc', '1e3', '99999999999999999999999', '9007199254740993', '%00', '%2e%2e', '%ZZ', 'ann%40m.test', 'm.test', '%F0%9F%98%80', 'x'.repeat(2_000), '', ' ', '%20', '0x10', 'null', 'constructor'];
const EACH_PARAM = ['0', '-1', 'abc', '99999999999999999999999', '%00', '%ZZ', 'x'.repeat(2_000)];
const param = fc.oneof(fc.constantFrom(...PARAM_VALUES), fc.string({ unit: 'binary', maxLength: 40 }).map(encodeURIComponent));

function queryOf(fields: string[]): fc.Arbitrary<string | undefined> {
  const pair = fc.tuple(fc.oneof(fc.constantFrom(...fields, 'unknown', '__proto__', ''), fc.string({ maxLength: 10 })), fc.oneof(fc.constantFrom(...PARAM_VALUES), fc.string({ maxLength: 30 })));
  return fc.option(
    fc.array(pair, { maxLength: 5 }).map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
    { nil: undefined },
  );
}

function bodyOf(fields: string[]): fc.Arbitrary<{ payload?: string | Buffer; contentType?: string }> {
  const knownFields = fields.length > 0 ? fc.dictionary(fc.constantFrom(...fields), jsonValue, { maxKeys: fields.length }) : fc.constant({});
  return fc.oneof(
    // Known fields with values of any type, plus unknown ones.
    fc.tuple(knownFields, fc.dictionary(fc.string({ maxLength: 12 }), jsonValue, { maxKeys: 3 })).map(([known, unknown]) => ({ payload: JSON.stringify({ ...unknown, ...known }) })),
    // Not an object at all.
    jsonValue.map((v) => ({ payload: JSON.stringify(v) ?? 'null' })),
    // Not JSON, or not said to be JSON.
    fc.string({ maxLength: 200 }).map((s) => ({ payload: s })),
    fc.tuple(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=utf-16', 'bogus'), fc.string({ maxLength: 200 })).map(([contentType, payload]) => ({ payload, contentType })),
    fc.constant({}),
  );
}

describe('every API route with bad input', () => {
  it('answers missing fields, wrong types and unknown fields with a 4xx and the error body (every route, every field)', async () => {
    expect(targets.length).toBeGreaterThan(50);
    for (const target of targets) {
      const write = target.route.method !== 'GET';
      const attempts: Attempt[] = [];
      for (const value of EACH_PARAM) attempts.push({ params: [value], ...(write ? { payload: '{}' } : {}) });
      for (const field of target.queryFields) for (const value of EACH_FIELD) attempts.push({ params: ['1'], query: `${field}=${encodeURIComponent(JSON.stringify(value))}` });
      if (write) {
        attempts.push({ params: ['1'], payload: '{}' }, { params: ['1'], payload: '{"unknownField":1}' }, { params: ['1'], payload: '{' }, { params: ['1'], payload: 'null' }, { params: ['1'], payload: '[]' }, { params: ['1'], payload: '"x"' });
        // Multipart with no boundary, and a form cut off inside its file.
        attempts.push({ params: ['1'], payload: '', contentType: 'multipart/form-data' });
        attempts.push({ params: ['1'], payload: '--x\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\ncut off', contentType: 'multipart/form-data; boundary=x' });
        for (const field of target.bodyFields) for (const value of EACH_FIELD) attempts.push({ params: ['1'], payload: JSON.stringify({ [field]: value }) });
      }
      for (const attempt of attempts) await expectNoServerError(target, attempt);
    }
  }, 120_000);

  it('answers a body over the limit with 413 request.too_large on every write (unless the session is refused before the body is read)', async () => {
    const huge = Buffer.from(JSON.stringify({ text: 'x'.repeat(2 * 1024 * 1024) }));
    for (const target of targets.filter((x) => x.route.method !== 'GET')) {
      const what = `${target.route.method} ${target.route.url}`;
      // POST /api/auth/totp refuses a complete session (409) before it reads any body: the same answer for a small one.
      const small = await send(target, { params: ['1'], payload: '{}' });
      const refusedFirst = small.statusCode === 409 && small.json().error.code === 'auth.mfa_not_pending';
      const res = await send(target, { params: ['1'], payload: huge });
      expect(res.statusCode, what).toBe(refusedFirst ? 409 : 413);
      expect(res.json().error.code, what).toBe(refusedFirst ? 'auth.mfa_not_pending' : 'request.too_large');
    }
  }, 60_000);

  it(
    'never answers random input with a 5xx (random routes, parameters, query strings and bodies)',
    async () => {
      const attempt = fc.integer({ min: 0, max: targets.length - 1 }).chain((i) =>
        fc.record({ i: fc.constant(i), params: fc.array(param, { minLength: 1, maxLength: 2 }), query: queryOf(targets[i]!.queryFields), body: bodyOf(targets[i]!.bodyFields) }),
      );
      await fc.assert(
        fc.asyncProperty(attempt, async ({ i, params, query, body }) => {
          const target = targets[i]!;
          await expectNoServerError(target, { params, query, ...(target.route.method === 'GET' ? {} : body) });
        }),
        fuzzParams(200),
      );
    },
    fuzzTimeout(60_000),
  );
});
