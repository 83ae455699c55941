import { Resolver } from 'node:dns/promises';
import { createRedis, createRedisEventPublisher, openStore, type Logger, type OutboundConfig } from '@mailyard/core';
import { buildOutboundWorker } from './app.js';

export async function start(config: OutboundConfig, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) {
  const store = await openStore(endpoints.databaseUrl, log, { poolSize: Math.max(10, Math.ceil(config.OUTBOUND_CONCURRENCY / 2) + 4), applicationName: 'outbound-worker' });
  const publisher = createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 2 });
  const connection = createRedis(endpoints.redisUrl, { maxRetriesPerRequest: null }); // BullMQ workers block on Redis
  const resolver = new Resolver({ timeout: 5_000, tries: 2 });
  if (config.DNS_SERVERS.length > 0) resolver.setServers(config.DNS_SERVERS);
  const app = buildOutboundWorker(
    { db: store.db, events: createRedisEventPublisher(publisher), log, connection, resolver },
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
    },
  );
  await app.run();
  log.info({ event: 'outbound.started', concurrency: config.OUTBOUND_CONCURRENCY, dns: config.DNS_SERVERS.length > 0 ? config.DNS_SERVERS : 'system', port: config.OUTBOUND_SMTP_PORT });
  return {
    async stop() {
      await app.close();
      publisher.disconnect();
      connection.disconnect();
      await store.close();
    },
  };
}
