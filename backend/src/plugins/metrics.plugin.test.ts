import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, type TestBackend } from '../../../tests/helpers/backend.js';
import { createSpoolRepository } from '../../../core/src/repositories/spool.repository.js';
import { Queue } from 'bullmq';
import { sql } from 'kysely';
import { blobReclaimTask } from '../../../core/src/housekeeping/blob-reclaim.task.js';
import { silentLogger } from '../../../core/src/log/logger.js';
import { ingestMessage } from '../../../core/src/mail/mailbox-writer/index.js';
import { summarizeMessage } from '../../../core/src/mail/parse.js';
import { VIRUS_REFUSED_COUNTER } from '../../../core/src/mail/spam/virus-scan.js';
import { blobHash } from '../../../core/src/repositories/blob.repository.js';
import { inboundJobId, QUEUE_INBOUND } from '../../../core/src/queue/queues.js';

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

describe('storage, queues and trust on /metrics', () => {
  const metric = (body: string, name: string) => {
    const m = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(body);
    return m ? Number(m[1]) : undefined;
  };
  const scrape = async () => (await t.app.inject({ method: 'GET', url: '/metrics' })).body;

  it('reports stored bytes, spool rows, deliveries by status, queue depths and ages, and the MX virus refusals', async () => {
    await t.accounts.addDomain('metrics.test');
    const user = await t.accounts.addUser({ address: 'meg@metrics.test', password: 'meg password' });
    const raw = Buffer.from('From: s@remote.test\r\nTo: meg@metrics.test\r\nSubject: m\r\n\r\nbody\r\n');
    await ingestMessage({ db: t.store.db, events: { publish: async () => undefined }, log: silentLogger() }, { userId: user.id, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) });
    const outbound = await t.store.db.insertInto('outbound_messages').values({ user_id: user.id, blob_hash: blobHash(raw), size: raw.length, mail_from: 'meg@metrics.test' }).returning('id').executeTakeFirstOrThrow();
    await t.store.db.insertInto('deliveries').values([{ outbound_id: outbound.id, user_id: user.id, recipient: 'a@far.test', domain: 'far.test', status: 'bounced' }, { outbound_id: outbound.id, user_id: user.id, recipient: 'b@far.test', domain: 'far.test', status: 'delivered' }, { outbound_id: outbound.id, user_id: user.id, recipient: 'c@far.test', domain: 'far.test' }]).execute();
    await t.redis.incrby(VIRUS_REFUSED_COUNTER, 3);
    // A job waiting for two minutes (no worker runs here), and one scheduled for later.
    const queue = new Queue(QUEUE_INBOUND, { connection: t.redis });
    await queue.add('ingest', { spoolId: 1 }, { jobId: inboundJobId(1), timestamp: Date.now() - 120_000 });
    await queue.add('ingest', { spoolId: 2 }, { jobId: inboundJobId(2), delay: 3_600_000 });

    let body = await scrape();
    const { rows } = await sql<{ users: string; blobs: string; blob_bytes: string }>`
      SELECT (SELECT sum(used_bytes) FROM users) AS users, (SELECT count(*) FROM blobs) AS blobs, (SELECT sum(size) FROM blobs) AS blob_bytes`.execute(t.store.db);
    expect(metric(body, 'mailyard_storage_user_bytes_total')).toBe(Number(rows[0]!.users));
    expect(Number(rows[0]!.users)).toBeGreaterThanOrEqual(raw.length);
    expect(metric(body, 'mailyard_spool_rows{status="pending"}')).toBe(1);
    expect(metric(body, 'mailyard_spool_rows{status="done"}')).toBe(0);
    expect(metric(body, 'mailyard_deliveries{status="bounced"}')).toBe(1);
    expect(metric(body, 'mailyard_deliveries{status="delivered"}')).toBe(1);
    expect(metric(body, 'mailyard_deliveries{status="queued"}')).toBe(1);
    expect(metric(body, 'mailyard_deliveries{status="expired"}')).toBe(0);
    expect(metric(body, 'mailyard_smtp_virus_refused_total')).toBe(3);
    expect(metric(body, 'mailyard_queue_jobs{queue="inbound",state="wait"}')).toBe(1);
    expect(metric(body, 'mailyard_queue_jobs{queue="inbound",state="delayed"}')).toBe(1);
    expect(metric(body, 'mailyard_queue_jobs{queue="outbound",state="wait"}')).toBe(0);
    expect(metric(body, 'mailyard_queue_oldest_seconds{queue="inbound"}')).toBeGreaterThanOrEqual(120);
    expect(metric(body, 'mailyard_queue_oldest_seconds{queue="outbound"}')).toBe(0);
    expect(metric(body, 'mailyard_metrics_source_up{source="store"}')).toBe(1);
    expect(metric(body, 'mailyard_metrics_source_up{source="redis"}')).toBe(1);
    // The blob totals come from the reclaim task's last count: none before it ran.
    expect(metric(body, 'mailyard_storage_blob_bytes')).toBeUndefined();
    await blobReclaimTask({ db: t.store.db, gauges: t.redis }, { graceMs: 3_600_000 }).run();
    body = await scrape();
    expect(metric(body, 'mailyard_storage_blob_bytes')).toBe(Number(rows[0]!.blob_bytes));
    expect(metric(body, 'mailyard_storage_blobs')).toBe(Number(rows[0]!.blobs));
    await queue.obliterate({ force: true });
    await queue.close();
  });
});

describe('when a source does not answer', () => {
  it('reports Redis down and still answers with the store figures', async () => {
    const cut = await createTestBackend();
    try {
      cut.redis.disconnect();
      const res = await cut.app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.body).toMatch(/^mailyard_metrics_source_up\{source="redis"\} 0$/m);
      expect(res.body).toMatch(/^mailyard_metrics_source_up\{source="store"\} 1$/m);
      expect(res.body).toMatch(/^mailyard_spool_rows\{status="pending"\} 0$/m);
      expect(res.body).not.toContain('mailyard_queue_jobs{');
    } finally {
      await cut.close();
    }
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
