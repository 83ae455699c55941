import { createRedis, createRedisEventPublisher, openStore, requireRedis, startHousekeeping, startService, trashPurgeTask, type InboundConfig, type Logger } from '@mailyard/core';
import { buildInboundWorker } from './app.js';

/**
 * Starts the inbound worker, and runs the Trash purge (housekeeping). Redis must answer at start:
 * without it a worker has nothing to do, so it fails (and is restarted) rather than wait silently.
 * When a step fails, what the earlier ones opened is closed.
 */
export function start(config: InboundConfig, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) {
  return startService(log, async (opened) => {
    const store = opened.add(await openStore(endpoints.databaseUrl, log, { poolSize: Math.max(10, config.INBOUND_CONCURRENCY + 4), applicationName: 'inbound-worker' }), (s) => s.close());
    const publisher = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 2 }), (r) => r.disconnect());
    await requireRedis(publisher);
    const connection = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: null }), (r) => r.disconnect()); // BullMQ workers block on Redis
    const events = createRedisEventPublisher(publisher);
    const app = opened.add(
      buildInboundWorker(
        { db: store.db, events, log, connection },
        { concurrency: config.INBOUND_CONCURRENCY, reconcileIntervalMs: config.SPOOL_RECONCILE_INTERVAL_MS, reconcileAgeMs: config.SPOOL_RECONCILE_AGE_MS, lockMs: config.INBOUND_LOCK_MS },
      ),
      (a) => a.close(),
    );
    await app.run();
    opened.add(await startHousekeeping({ connection, log }, [trashPurgeTask({ db: store.db, events, log })]), (h) => h.stop());
    log.info({ event: 'inbound.started', concurrency: config.INBOUND_CONCURRENCY });
    return {};
  });
}
