import { countJobsProcessed, createRedis, createRedisEventPublisher, createSpamEngineFromConfig, limitHeapGrowth, MetricsRegistry, openStore, requireRedis, startHealthServer, startHousekeeping, startService, trashPurgeTask, type InboundConfig, type Logger } from '@mailyard/core';
import { buildInboundWorker } from './app.js';
import { buildSpamLearnWorker } from './spam-learn.worker.js';

/**
 * Starts the inbound worker, the `spam-learn` jobs when RSPAMD_URL is set, and the Trash purge
 * (housekeeping), with V8's old generation kept closer to what is alive (limitHeapGrowth). Redis must answer at start:
 * without it a worker has nothing to do, so it fails (and is restarted) rather than wait silently.
 * When a step fails, what the earlier ones opened is closed.
 */
export function start(config: InboundConfig, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) {
  return startService(log, async (opened) => {
    await limitHeapGrowth(); // its peak RSS under a backlog is garbage in the old generation, not messages held (core/src/runtime/heap.ts)
    const store = opened.add(await openStore(endpoints.databaseUrl, log, { poolSize: Math.max(10, config.INBOUND_CONCURRENCY + 4), applicationName: 'inbound-worker' }), (s) => s.close());
    const publisher = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 2 }), (r) => r.disconnect());
    await requireRedis(publisher);
    const connection = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: null }), (r) => r.disconnect()); // BullMQ workers block on Redis
    const events = createRedisEventPublisher(publisher);
    const app = opened.add(
      buildInboundWorker(
        { db: store.db, events, log, connection },
        { concurrency: config.INBOUND_CONCURRENCY, filingWindow: config.INBOUND_FILING_WINDOW, reconcileIntervalMs: config.SPOOL_RECONCILE_INTERVAL_MS, reconcileAgeMs: config.SPOOL_RECONCILE_AGE_MS, lockMs: config.INBOUND_LOCK_MS },
      ),
      (a) => a.close(),
    );
    // rspamd (RSPAMD_URL): this worker also teaches it the users' moves into and out of Junk.
    const engine = createSpamEngineFromConfig(config, log);
    const spamLearn = engine ? opened.add(buildSpamLearnWorker({ db: store.db, engine, log, connection }), (w) => w.close()) : null;
    const metrics = new MetricsRegistry();
    countJobsProcessed(metrics, spamLearn ? [app.worker, spamLearn.worker] : [app.worker]);
    await app.run();
    await spamLearn?.run();
    // Probes and metrics for compose's healthcheck, orchestrators and Prometheus (WORKER_HEALTH_PORT; unset under `npm start`).
    const health = config.WORKER_HEALTH_PORT === undefined ? undefined : opened.add(await startHealthServer({ db: store.db, redis: publisher, metrics }, config.WORKER_HEALTH_PORT, config.BIND_ADDRESS), (h) => h.close());
    opened.add(await startHousekeeping({ connection, log }, [trashPurgeTask({ db: store.db, events, log })]), (h) => h.stop());
    log.info({ event: 'inbound.started', concurrency: config.INBOUND_CONCURRENCY });
    return { healthPort: health?.port };
  });
}
