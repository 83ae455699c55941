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
  processMetricFamilies,
  PROMETHEUS_CONTENT_TYPE,
  renderMetrics,
  VIRUS_REFUSED_COUNTER,
  type BlobTotals,
  type Db,
  type MetricFamily,
  type MetricLabels,
  type MetricSample,
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

type Families = MetricFamily[];
const gauge = (name: string, help: string, samples: MetricSample[]): MetricFamily => ({ name, help, type: 'gauge', samples });

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

  const byStatus = (counts: Record<string, number>): MetricSample[] => Object.entries(counts).map(([status, value]) => ({ labels: { status }, value }));

  async function storeFamilies(): Promise<Families> {
    const spool = await createSpoolRepository(deps.db).countByStatus();
    const figures = await createAdminStatsRepository(deps.db).storeFigures();
    return [
      gauge('mailyard_spool_rows', 'Spool rows by status (filed rows are purged after SPOOL_RETENTION_DAYS).', byStatus(spool)),
      gauge('mailyard_storage_user_bytes_total', 'Bytes of mail the users store, summed (what counts against quotas; shared bytes count once per message).', [{ value: figures.userBytes }]),
      gauge('mailyard_deliveries', 'Outbound deliveries (one per recipient) by status.', byStatus(figures.deliveries)),
    ];
  }

  async function redisFamilies(): Promise<Families> {
    const now = Date.now();
    const jobs: MetricSample[] = [];
    const oldest: MetricSample[] = [];
    for (const queue of queues) {
      const counts = await queue.getJobCounts(...JOB_STATES);
      for (const state of JOB_STATES) jobs.push({ labels: { queue: queue.name, state }, value: counts[state] ?? 0 });
      const [first] = await queue.getJobs(['wait', 'prioritized'], 0, 0, true);
      const readySince = first ? first.timestamp + (first.opts.delay ?? 0) : now;
      oldest.push({ labels: { queue: queue.name }, value: Math.max(0, (now - readySince) / 1000) });
    }
    const [virus, blobs] = await Promise.all([deps.redis.get(VIRUS_REFUSED_COUNTER), deps.redis.get(BLOB_TOTALS_KEY)]);
    const totals = blobs ? (JSON.parse(blobs) as BlobTotals) : null;
    return [
      gauge('mailyard_queue_jobs', 'Jobs per queue and state.', jobs),
      gauge('mailyard_queue_oldest_seconds', 'How long the oldest job ready to run has waited, per queue (0: none waits).', oldest),
      { name: 'mailyard_smtp_virus_refused_total', help: 'Messages the MX refused as infected (clamd).', type: 'counter', samples: [{ value: Number(virus ?? 0) }] },
      ...(totals
        ? [
            gauge('mailyard_storage_blob_bytes', 'Bytes of message content stored (each content once), as of the last blob reclaim.', [{ value: totals.bytes }]),
            gauge('mailyard_storage_blobs', 'Message contents stored, as of the last blob reclaim.', [{ value: totals.blobs }]),
            gauge('mailyard_storage_counted_timestamp_seconds', 'When the blob reclaim last counted the stored bytes.', [{ value: totals.at / 1000 }]),
          ]
        : []),
    ];
  }

  /** A source's families, or none and `up` 0 when it fails. */
  async function fromSource(source: string, collect: () => Promise<Families>, up: Map<string, number>): Promise<Families> {
    try {
      const families = await collect();
      up.set(source, 1);
      return families;
    } catch {
      up.set(source, 0);
      return [];
    }
  }
  const requests = new Map<string, { labels: MetricLabels; value: number }>();
  const durations = new Map<string, { sum: number; count: number }>();
  const started = Date.now();

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    if (route === '/metrics') return;
    const labels = { method: req.method, route, status: String(reply.statusCode) };
    const key = JSON.stringify(labels);
    const counted = requests.get(key) ?? { labels, value: 0 };
    counted.value += 1;
    requests.set(key, counted);
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
    let pending = -1;
    try {
      pending = await createSpoolRepository(deps.db).countPending();
    } catch {
      // reported as -1: the store is unreachable
    }
    const up = new Map<string, number>();
    const [store, redis] = await Promise.all([fromSource('store', storeFamilies, up), fromSource('redis', redisFamilies, up)]);
    const families: Families = [
      { name: 'mailyard_http_requests_total', help: 'HTTP requests by method, route and status.', type: 'counter', samples: [...requests.values()] },
      {
        name: 'mailyard_http_request_duration_seconds',
        help: 'Time to answer, by route.',
        type: 'summary',
        samples: [...durations].flatMap(([route, d]) => [
          { suffix: '_sum', labels: { route }, value: d.sum },
          { suffix: '_count', labels: { route }, value: d.count },
        ]),
      },
      gauge('mailyard_spool_pending', 'Accepted messages not yet filed into mailboxes (-1: store unreachable).', [{ value: pending }]),
      ...store,
      ...redis,
      gauge('mailyard_metrics_source_up', 'Whether a source of these figures answered this scrape.', [...up.keys()].sort().map((source) => ({ labels: { source }, value: up.get(source)! }))),
      ...processMetricFamilies(started),
    ];
    return reply.header('content-type', PROMETHEUS_CONTENT_TYPE).send(renderMetrics(families));
  });
}
