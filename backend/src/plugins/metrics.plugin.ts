import type { FastifyInstance } from 'fastify';
import { createSpoolRepository, type Db } from '@mailyard/core';

/**
 * Prometheus text exposition at GET /metrics: HTTP requests by route and status, latency sums,
 * process memory, and the store's backlog (spool rows not yet filed). Contains no user data.
 */
export function registerMetrics(app: FastifyInstance, deps: { db: Db }): void {
  const requests = new Map<string, number>();
  const durations = new Map<string, { sum: number; count: number }>();
  const started = Date.now();

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    if (route === '/metrics') return;
    const key = `method="${req.method}",route="${route}",status="${reply.statusCode}"`;
    requests.set(key, (requests.get(key) ?? 0) + 1);
    const d = durations.get(route) ?? { sum: 0, count: 0 };
    d.sum += reply.elapsedTime / 1000;
    d.count += 1;
    durations.set(route, d);
  });

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const mem = process.memoryUsage();
    let pending = -1;
    try {
      pending = await createSpoolRepository(deps.db).countPending();
    } catch {
      // reported as -1: the store is unreachable
    }
    const lines = [
      '# HELP mailyard_http_requests_total HTTP requests by method, route and status.',
      '# TYPE mailyard_http_requests_total counter',
      ...[...requests].map(([labels, n]) => `mailyard_http_requests_total{${labels}} ${n}`),
      '# HELP mailyard_http_request_duration_seconds Time to answer, by route.',
      '# TYPE mailyard_http_request_duration_seconds summary',
      ...[...durations].flatMap(([route, d]) => [`mailyard_http_request_duration_seconds_sum{route="${route}"} ${d.sum}`, `mailyard_http_request_duration_seconds_count{route="${route}"} ${d.count}`]),
      '# HELP mailyard_spool_pending Accepted messages not yet filed into mailboxes (-1: store unreachable).',
      '# TYPE mailyard_spool_pending gauge',
      `mailyard_spool_pending ${pending}`,
      '# HELP process_resident_memory_bytes Resident memory.',
      '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${mem.rss}`,
      '# HELP nodejs_heap_used_bytes V8 heap in use.',
      '# TYPE nodejs_heap_used_bytes gauge',
      `nodejs_heap_used_bytes ${mem.heapUsed}`,
      '# HELP process_uptime_seconds Seconds since the HTTP service started.',
      '# TYPE process_uptime_seconds gauge',
      `process_uptime_seconds ${(Date.now() - started) / 1000}`,
      '',
    ];
    return reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(lines.join('\n'));
  });
}
