import { Resolver } from 'node:dns/promises';
import { countJobsProcessed, createRedis, createRedisEventPublisher, createSecretBox, loadSecretKey, MetricsRegistry, openStore, requireRedis, startHealthServer, startService, type Logger, type OutboundConfig } from '@mailyard/core';
import { buildOutboundWorker } from './app.js';

/**
 * Starts the outbound worker. Redis must answer at start: without it a worker has nothing to do,
 * so it fails (and is restarted) rather than wait silently. When a step fails, what the earlier
 * ones opened is closed.
 */
export function start(config: OutboundConfig, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) {
  return startService(log, async (opened) => {
    const store = opened.add(await openStore(endpoints.databaseUrl, log, { poolSize: Math.max(10, Math.ceil(config.OUTBOUND_CONCURRENCY / 2) + 4), applicationName: 'outbound-worker' }), (s) => s.close());
    const publisher = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 2 }), (r) => r.disconnect());
    await requireRedis(publisher);
    const connection = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: null }), (r) => r.disconnect()); // BullMQ workers block on Redis
    const resolver = new Resolver({ timeout: 5_000, tries: 2 });
    if (config.DNS_SERVERS.length > 0) resolver.setServers(config.DNS_SERVERS);
    const app = opened.add(
      buildOutboundWorker(
        { db: store.db, events: createRedisEventPublisher(publisher), log, connection, resolver, secrets: createSecretBox(loadSecretKey(config.DATA_DIR, config.SECRET_KEY)) },
        {
          concurrency: config.OUTBOUND_CONCURRENCY,
          hostname: config.MAIL_HOSTNAME,
          smtpPort: config.OUTBOUND_SMTP_PORT,
          connectTimeoutMs: config.OUTBOUND_CONNECT_TIMEOUT,
          socketTimeoutMs: config.OUTBOUND_SOCKET_TIMEOUT,
          retryScheduleMs: config.OUTBOUND_RETRY_SCHEDULE,
          expireAfterMs: config.OUTBOUND_EXPIRE_AFTER,
          leaseMs: config.OUTBOUND_LEASE,
          reconcileIntervalMs: config.OUTBOUND_RECONCILE_INTERVAL,
          delayWarningMs: config.OUTBOUND_DELAY_WARNING,
          maxConnectionsPerHost: config.OUTBOUND_MAX_CONNECTIONS_PER_HOST,
          allowPrivate: config.OUTBOUND_ALLOW_PRIVATE,
        },
      ),
      (a) => a.close(),
    );
    const metrics = new MetricsRegistry();
    countJobsProcessed(metrics, [app.worker, app.scheduledWorker]);
    await app.run();
    // Probes and metrics for compose's healthcheck, orchestrators and Prometheus (WORKER_HEALTH_PORT; unset under `npm start`).
    const health = config.WORKER_HEALTH_PORT === undefined ? undefined : opened.add(await startHealthServer({ db: store.db, redis: publisher, metrics }, config.WORKER_HEALTH_PORT, config.BIND_ADDRESS), (h) => h.close());
    log.info({ event: 'outbound.started', concurrency: config.OUTBOUND_CONCURRENCY, dns: config.DNS_SERVERS.length > 0 ? config.DNS_SERVERS : 'system', port: config.OUTBOUND_SMTP_PORT });
    return { healthPort: health?.port };
  });
}
