import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';

let t: TestBackend;
let ann: Agent;
let ben: Agent;
beforeAll(async () => {
  t = await createTestBackend();
  ({ ann, ben } = await signInTwoUsers(t));
});
afterAll(async () => {
  await t.close();
});

const get = (agent: Agent) => t.app.inject({ method: 'GET', url: '/api/account/settings', headers: agent.headers });
const patch = (agent: Agent, payload: object) => t.app.inject({ method: 'PATCH', url: '/api/account/settings', headers: agent.headers, payload });

describe('/api/account/settings: display name and signature', () => {
  it('starts with no display name and no signature', async () => {
    expect((await get(ben)).json()).toEqual({ undoSendSeconds: 10, displayName: null, signature: '' });
  });

  it('saves a trimmed display name and a multi-line signature, and compose writes the name as the From name', async () => {
    const res = await patch(ann, { displayName: '  Ann Example ', signature: 'Ann\n\tExample Co.' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ undoSendSeconds: 10, displayName: 'Ann Example', signature: 'Ann\n\tExample Co.' });
    expect((await get(ann)).json()).toMatchObject({ displayName: 'Ann Example', signature: 'Ann\n\tExample Co.' });
    // Another user's settings are untouched.
    expect((await get(ben)).json()).toMatchObject({ displayName: null, signature: '' });

    const draft = await t.app.inject({ method: 'POST', url: '/api/drafts', headers: ann.headers, payload: { to: ['ben@m.test'], subject: 'Hi', text: 'Hello' } });
    expect(draft.statusCode, draft.body).toBe(201);
    const raw = await t.app.inject({ method: 'GET', url: `/api/messages/${(draft.json() as { id: number }).id}/raw`, headers: ann.headers });
    expect(raw.body).toMatch(/^From: Ann Example <ann@m\.test>\r$/m);

    // An empty name clears it; a missing field is left as it was.
    expect((await patch(ann, { displayName: '' })).json()).toMatchObject({ displayName: null, signature: 'Ann\n\tExample Co.' });
  });

  it('refuses a name over one line, control characters and an over-long signature with request.invalid', async () => {
    for (const body of [{ displayName: 'Ann\r\nBcc: x@y.test' }, { displayName: 'a'.repeat(101) }, { signature: 'bell\u0007' }, { signature: 's'.repeat(2001) }]) {
      const res = await patch(ben, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect((res.json() as { error: { code: string } }).error.code).toBe('request.invalid');
    }
    expect((await get(ben)).json()).toMatchObject({ displayName: null, signature: '' });
  });
});
