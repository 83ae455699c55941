import { createRedis, createUploadRepository, openStore, type HttpConfig, type Logger } from '@mailyard/core';
import { buildBackend } from './app.js';

/** An upload not used within a day is deleted. */
export const UPLOAD_MAX_AGE_MS = 24 * 3_600_000;

export async function start(config: HttpConfig, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) {
  const store = await openStore(endpoints.databaseUrl, log, { poolSize: 10, applicationName: 'backend' });
  const redis = createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 1 });
  const subscribers: Array<ReturnType<typeof createRedis>> = [];
  const createSubscriber = () => {
    const sub = createRedis(endpoints.redisUrl, { maxRetriesPerRequest: null });
    subscribers.push(sub);
    return sub;
  };
  const app = await buildBackend({ db: store.db, redis, createSubscriber, log }, { dataDir: config.DATA_DIR, dnsServers: config.DNS_SERVERS, mailHostname: config.MAIL_HOSTNAME, secretKey: config.SECRET_KEY });
  await app.listen({ port: config.HTTP_PORT, host: config.BIND_ADDRESS });
  // Uploads are staging for compose; a day after upload they are gone (hourly sweep).
  const uploads = createUploadRepository(store.db, config.DATA_DIR);
  const sweepUploads = () =>
    void uploads
      .sweep(new Date(Date.now() - UPLOAD_MAX_AGE_MS))
      .then((n) => n > 0 && log.info({ event: 'uploads.swept', removed: n }))
      .catch((err: Error) => log.warn({ event: 'uploads.sweep_failed', err: err.message }));
  const sweepTimer = setInterval(sweepUploads, 3_600_000);
  sweepTimer.unref();
  sweepUploads();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.HTTP_PORT;
  log.info({ event: 'http.listening', port, host: config.BIND_ADDRESS });
  return {
    port,
    async stop() {
      clearInterval(sweepTimer);
      await app.close();
      for (const sub of subscribers) sub.disconnect();
      redis.disconnect();
      await store.close();
    },
  };
}
