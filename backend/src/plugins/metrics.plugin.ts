import { Queue } from 'bullmq';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import {
  AppError,
  BLOB_TOTALS_KEY,
  createAdminStatsRepository,
  createSpoolRepository,
  QUEUE_INBOUND,
  QUEUE_OUTBOUND,
  QUEUE_SCHEDULED_SEND,
  QUEUE_SPAM_LEARN,
  VIRUS_REFUSED_COUNTER,
  type BlobTotals,
  type Db,
  type MetricsAccess,
} from '@mailyard/core';
import { sameSecret } from './auth.plugin.js';

/** Throws 401 unless the request carries `Authorization: Bearer <token>` (compared in constant time). */
function checkBearer(req: FastifyRequest, token: string): void {
  const match = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  if (!match || !sameSecret(match[1]!, token)) throw new AppError('auth.required', 'send Authorization: Bearer <METRICS_TOKEN>', 401);
}

/** The BullMQ queues whose depth and oldest waiting job are reported. */
const QUEUES = [QUEUE_INBOUND, QUEUE_OUTBOUND, QUEUE_SCHEDULED_SEND, QUEUE_SPAM_LEARN];
const JOB_STATES = ['wait', 'prioritized', 'active', 'delayed', 'failed'] as const;

type Lines = string[];
const gauge = (name: string, help: string, samples: Array<[labels: string, value: number]>, type = 'gauge'): Lines => [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(([labels, v]) => `${name}${labels ? `{${labels}}` : ''} ${v}`)];

/**
 * Prometheus text exposition at GET /metrics: HTTP requests by route and status, latency sums,
 * process memory; from the store: the spool (backlog and rows by status), the users' stored bytes,
 * deliveries by status; from Redis: the queues' depths and oldest waiting job, the MX's virus
 * refusals (a counter the smtp-server keeps there), and the blob totals the reclaim task last
 * counted (a scan of the table, hourly, not one per scrape). A source that does not answer is
 * `mailyard_metrics_source_up{source} 0` and its figures are left out. Contains no user data, but
 * is still only for the operator: behind a bearer token, open only where told (`npm start`, on
 * loopback), and not there at all (404) when `access` is 'off'.
 */
export function registerMetrics(app: FastifyInstance, deps: { db: Db; redis: Redis; access: MetricsAccess }): void {
  const { access } = deps;
  if (access === 'off') return;
  const queues = QUEUES.map((name) => {
    const queue = new Queue(name, { connection: deps.redis });
    queue.on('error', () => undefined);
    return queue;
  });
  app.addHook('onClose', async () => {
    await Promise.all(queues.map((q) => q.close()));
  });

  async function storeLines(): Promise<Lines> {
    const spool = await createSpoolRepository(deps.db).countByStatus();
    const figures = await createAdminStatsRepository(deps.db).storeFigures();
    return [
      ...gauge('mailyard_spool_rows', 'Spool rows by status (filed rows are purged after SPOOL_RETENTION_DAYS).', Object.entries(spool).map(([status, n]) => [`status="${status}"`, n])),
      ...gauge('mailyard_storage_user_bytes_total', 'Bytes of mail the users store, summed (what counts against quotas; shared bytes count once per message).', [['', figures.userBytes]]),
      ...gauge('mailyard_deliveries', 'Outbound deliveries (one per recipient) by status.', Object.entries(figures.deliveries).map(([status, n]) => [`status="${status}"`, n])),
    ];
  }

  async function redisLines(): Promise<Lines> {
    const now = Date.now();
    const jobs: Array<[string, number]> = [];
    const oldest: Array<[string, number]> = [];
    for (const queue of queues) {
      const counts = await queue.getJobCounts(...JOB_STATES);
      for (const state of JOB_STATES) jobs.push([`queue="${queue.name}",state="${state}"`, counts[state] ?? 0]);
      const [first] = await queue.getJobs(['wait', 'prioritized'], 0, 0, true);
      const readySince = first ? first.timestamp + (first.opts.delay ?? 0) : now;
      oldest.push([`queue="${queue.name}"`, Math.max(0, (now - readySince) / 1000)]);
    }
    const [virus, blobs] = await Promise.all([deps.redis.get(VIRUS_REFUSED_COUNTER), deps.redis.get(BLOB_TOTALS_KEY)]);
    const totals = blobs ? (JSON.parse(blobs) as BlobTotals) : null;
    return [
      ...gauge('mailyard_queue_jobs', 'Jobs per queue and state.', jobs),
      ...gauge('mailyard_queue_oldest_seconds', 'How long the oldest job ready to run has waited, per queue (0: none waits).', oldest),
      ...gauge('mailyard_smtp_virus_refused_total', 'Messages the MX refused as infected (clamd).', [['', Number(virus ?? 0)]], 'counter'),
      ...(totals
        ? [
            ...gauge('mailyard_storage_blob_bytes', 'Bytes of message content stored (each content once), as of the last blob reclaim.', [['', totals.bytes]]),
            ...gauge('mailyard_storage_blobs', 'Message contents stored, as of the last blob reclaim.', [['', totals.blobs]]),
            ...gauge('mailyard_storage_counted_timestamp_seconds', 'When the blob reclaim last counted the stored bytes.', [['', totals.at / 1000]]),
          ]
        : []),
    ];
  }

  /** A source's lines, or none and `up` 0 when it fails. */
  async function fromSource(source: string, collect: () => Promise<Lines>, up: Array<[string, number]>): Promise<Lines> {
    try {
      const lines = await collect();
      up.push([`source="${source}"`, 1]);
      return lines;
    } catch {
      up.push([`source="${source}"`, 0]);
      return [];
    }
  }
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
    const up: Array<[string, number]> = [];
    const [store, redis] = await Promise.all([fromSource('store', storeLines, up), fromSource('redis', redisLines, up)]);
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
      ...store,
      ...redis,
      ...gauge('mailyard_metrics_source_up', 'Whether a source of these figures answered this scrape.', up.sort()),
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
