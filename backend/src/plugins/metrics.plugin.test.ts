import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, type TestBackend } from '../../../tests/helpers/backend.js';
import { createSpoolRepository } from '../../../core/src/repositories/spool.repository.js';

let t: TestBackend;
beforeAll(async () => {
  t = await createTestBackend();
});
afterAll(async () => {
  await t.close();
});

describe('GET /metrics', () => {
  it('counts requests by route and status and reports the spool backlog in Prometheus text', async () => {
    await t.app.inject({ method: 'GET', url: '/healthz' });
    await t.app.inject({ method: 'GET', url: '/api/me' });
    await createSpoolRepository(t.store.db).insertMany([{ raw: Buffer.from('Subject: x\r\n\r\n'), mailFrom: '', rcptTo: ['a@b.test'], remoteIp: null, helo: null, tls: false, traceHeaders: '' }]);
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain; version=0.0.4');
    expect(res.body).toContain('mailyard_http_requests_total{method="GET",route="/healthz",status="200"} 1');
    expect(res.body).toContain('mailyard_http_requests_total{method="GET",route="/api/me",status="401"} 1');
    expect(res.body).toMatch(/^mailyard_spool_pending 1$/m);
    expect(res.body).toMatch(/^process_resident_memory_bytes \d+$/m);
  });
});

describe('who may read /metrics', () => {
  const token = 'metrics-token-0123456789abcdef';

  it('asks for the bearer token when one is set: 401 without it or with a wrong one, 200 with it', async () => {
    const guarded = await createTestBackend({ metrics: { token } });
    try {
      const get = (authorization?: string) => guarded.app.inject({ method: 'GET', url: '/metrics', headers: authorization ? { authorization } : {} });
      const anonymous = await get();
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json()).toMatchObject({ error: { code: 'auth.required' } });
      expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      for (const wrong of [`Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `Basic ${token}`, token]) expect((await get(wrong)).statusCode, wrong).toBe(401);
      const allowed = await get(`Bearer ${token}`);
      expect(allowed.statusCode).toBe(200);
      expect(allowed.body).toMatch(/^mailyard_spool_pending \d+$/m);
    } finally {
      await guarded.close();
    }
  });

  it('is not there (404) when off: a service with no token', async () => {
    const closed = await createTestBackend({ metrics: 'off' });
    try {
      const res = await closed.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(404);
      expect(res.body).not.toContain('mailyard_');
    } finally {
      await closed.close();
    }
  });
});
