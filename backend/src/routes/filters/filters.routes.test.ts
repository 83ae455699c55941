import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';

/** GET/POST/DELETE /api/filters/senders: each user's allow and block lists, on the real backend and store. */

let t: TestBackend;
let ann: Agent;
let ben: Agent;

beforeAll(async () => {
  t = await createTestBackend();
  ({ ann, ben } = await signInTwoUsers(t));
});
afterAll(async () => {
  await t?.close();
});

const list = (agent: Agent) => t.app.inject({ method: 'GET', url: '/api/filters/senders', headers: { cookie: agent.cookie } });
const add = (agent: Agent, payload: object) => t.app.inject({ method: 'POST', url: '/api/filters/senders', headers: agent.headers, payload });
const remove = (agent: Agent, id: number) => t.app.inject({ method: 'DELETE', url: `/api/filters/senders/${id}`, headers: agent.headers });

function expectError(res: { statusCode: number; json(): unknown }, status: number, code: string) {
  expect(res.statusCode).toBe(status);
  expect(res.json()).toEqual({ error: { code, message: expect.any(String) }, requestId: expect.any(String) });
}

describe('sender lists', () => {
  it('adds addresses and domains in lower case, lists them newest first, and switches the kind of a listed pattern', async () => {
    const first = await add(ann, { kind: 'allow', pattern: ' Friend@Example.COM ' });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ sender: { id: expect.any(Number), kind: 'allow', pattern: 'friend@example.com', createdAt: expect.any(String) } });
    const domain = (await add(ann, { kind: 'block', pattern: 'spam.example.' })).json().sender;
    expect(domain).toMatchObject({ kind: 'block', pattern: 'spam.example' });

    const switched = (await add(ann, { kind: 'block', pattern: 'friend@example.com' })).json().sender;
    expect(switched).toMatchObject({ id: first.json().sender.id, kind: 'block' });

    const res = await list(ann);
    expect(res.statusCode).toBe(200);
    expect(res.json().senders.map((s: { pattern: string; kind: string }) => `${s.kind} ${s.pattern}`)).toEqual(['block spam.example', 'block friend@example.com']);
  });

  it('refuses what is neither an address nor a domain with 400 validation.failed and a clear message', async () => {
    for (const pattern of ['not a domain', 'a@b', '@example.com', 'x@-bad-.com']) {
      const res = await add(ann, { kind: 'allow', pattern });
      expectError(res, 400, 'validation.failed');
      expect(res.json().error.message).toContain('neither an e-mail address nor a domain name');
    }
    expectError(await add(ann, { kind: 'maybe', pattern: 'example.com' }), 400, 'request.invalid');
  });

  it("shows each user only their own entries, and refuses to delete another user's with 404", async () => {
    const bens = (await add(ben, { kind: 'allow', pattern: 'ben-friend.example' })).json().sender;
    expect((await list(ann)).json().senders.map((s: { pattern: string }) => s.pattern)).not.toContain('ben-friend.example');

    expectError(await remove(ann, bens.id), 404, 'sender_rule.not_found');
    expect((await list(ben)).json().senders).toEqual([bens]);

    const res = await remove(ben, bens.id);
    expect(res.statusCode).toBe(204);
    expect((await list(ben)).json().senders).toEqual([]);
    expectError(await remove(ben, bens.id), 404, 'sender_rule.not_found');
  });

  it('needs a session, and the CSRF header to change anything', async () => {
    expectError(await t.app.inject({ method: 'GET', url: '/api/filters/senders' }), 401, 'auth.required');
    const res = await t.app.inject({ method: 'POST', url: '/api/filters/senders', headers: { cookie: ann.cookie }, payload: { kind: 'allow', pattern: 'csrf.example' } });
    expectError(res, 403, 'auth.csrf');
  });
});
