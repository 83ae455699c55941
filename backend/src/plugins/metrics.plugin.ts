import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, createSpoolRepository, type Db, type MetricsAccess } from '@mailyard/core';
import { sameSecret } from './auth.plugin.js';

/** Throws 401 unless the request carries `Authorization: Bearer <token>` (compared in constant time). */
function checkBearer(req: FastifyRequest, token: string): void {
  const match = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  if (!match || !sameSecret(match[1]!, token)) throw new AppError('auth.required', 'send Authorization: Bearer <METRICS_TOKEN>', 401);
}

/**
 * Prometheus text exposition at GET /metrics: HTTP requests by route and status, latency sums,
 * process memory, and the store's backlog (spool rows not yet filed). Contains no user data, but
 * is still only for the operator: behind a bearer token, open only where told (`npm start`, on
 * loopback), and not there at all (404) when `access` is 'off'.
 */
export function registerMetrics(app: FastifyInstance, deps: { db: Db; access: MetricsAccess }): void {
  const { access } = deps;
  if (access === 'off') return;
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

  app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
    if (access !== 'open') {
      reply.header('www-authenticate', 'Bearer realm="metrics"');
      checkBearer(req, access.token);
    }
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
