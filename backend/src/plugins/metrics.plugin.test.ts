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
