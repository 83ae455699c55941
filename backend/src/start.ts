import type { Redis } from 'ioredis';
import { createRedis, openStore, requireRedis, startHousekeeping, startService, uploadSweepTask, type HttpConfig, type Logger } from '@mailyard/core';
import { buildBackend } from './app.js';

/**
 * Starts the HTTP API on HTTP_PORT, and runs the upload sweep (housekeeping: the upload files are
 * in this service's DATA_DIR). Redis must answer at start: sign-in limits, events and the
 * housekeeping schedule live there. When a step fails, what the earlier ones opened is closed.
 */
export function start(config: HttpConfig, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) {
  return startService(log, async (opened) => {
    const store = opened.add(await openStore(endpoints.databaseUrl, log, { poolSize: 10, applicationName: 'backend' }), (s) => s.close());
    const redis = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 1 }), (r) => r.disconnect());
    await requireRedis(redis);
    const subscribers = opened.add<Redis[]>([], (subs) => subs.forEach((sub) => sub.disconnect()));
    const createSubscriber = () => {
      const sub = createRedis(endpoints.redisUrl, { maxRetriesPerRequest: null });
      subscribers.push(sub);
      return sub;
    };
    const app = opened.add(
      await buildBackend({ db: store.db, redis, createSubscriber, log }, { dataDir: config.DATA_DIR, dnsServers: config.DNS_SERVERS, mailHostname: config.MAIL_HOSTNAME, secretKey: config.SECRET_KEY, apiDocs: config.API_DOCS, metrics: config.METRICS_TOKEN, clientPorts: { imap: config.IMAP_PORT, imaps: config.IMAPS_PORT, submission: config.SUBMISSION_PORT, smtps: config.SMTPS_PORT } }),
      (a) => a.close(),
    );
    await app.listen({ port: config.HTTP_PORT, host: config.BIND_ADDRESS });
    // BullMQ workers block on Redis: the housekeeping worker gets a connection of its own.
    const connection = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: null }), (r) => r.disconnect());
    opened.add(await startHousekeeping({ connection, log }, [uploadSweepTask({ db: store.db, dataDir: config.DATA_DIR })]), (h) => h.stop());
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.HTTP_PORT;
    log.info({ event: 'http.listening', port, host: config.BIND_ADDRESS });
    return { port };
  });
}
