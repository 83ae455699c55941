import { createRedis, createRedisEventPublisher, openStore, startTrashPurge, type InboundConfig, type Logger } from '@mailyard/core';
import { buildInboundWorker } from './app.js';

export async function start(config: InboundConfig, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) {
  const store = await openStore(endpoints.databaseUrl, log, { poolSize: Math.max(10, config.INBOUND_CONCURRENCY + 4), applicationName: 'inbound-worker' });
  const publisher = createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 2 });
  const connection = createRedis(endpoints.redisUrl, { maxRetriesPerRequest: null }); // BullMQ workers block on Redis
  const events = createRedisEventPublisher(publisher);
  const app = buildInboundWorker(
    { db: store.db, events, log, connection },
    { concurrency: config.INBOUND_CONCURRENCY, reconcileIntervalMs: config.SPOOL_RECONCILE_INTERVAL_MS, reconcileAgeMs: config.SPOOL_RECONCILE_AGE_MS, lockMs: config.INBOUND_LOCK_MS },
  );
  await app.run();
  // Messages in Trash for 30 days are deleted (hourly sweep; harmless when several workers run it).
  const trashPurge = startTrashPurge({ db: store.db, events, log, intervalMs: 3600_000 });
  log.info({ event: 'inbound.started', concurrency: config.INBOUND_CONCURRENCY });
  return {
    async stop() {
      await trashPurge.stop();
      await app.close();
      publisher.disconnect();
      connection.disconnect();
      await store.close();
    },
  };
}
