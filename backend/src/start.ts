import { createRedis, openStore, type HttpConfig, type Logger } from '@mailyard/core';
import { buildBackend } from './app.js';

export async function start(config: HttpConfig, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) {
  const store = await openStore(endpoints.databaseUrl, log, { poolSize: 10, applicationName: 'backend' });
  const redis = createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 1 });
  const subscribers: Array<ReturnType<typeof createRedis>> = [];
  const createSubscriber = () => {
    const sub = createRedis(endpoints.redisUrl, { maxRetriesPerRequest: null });
    subscribers.push(sub);
    return sub;
  };
  const app = await buildBackend({ db: store.db, redis, createSubscriber, log }, { dataDir: config.DATA_DIR, dnsServers: config.DNS_SERVERS, mailHostname: config.MAIL_HOSTNAME });
  await app.listen({ port: config.HTTP_PORT, host: config.BIND_ADDRESS });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.HTTP_PORT;
  log.info({ event: 'http.listening', port, host: config.BIND_ADDRESS });
  return {
    port,
    async stop() {
      await app.close();
      for (const sub of subscribers) sub.disconnect();
      redis.disconnect();
      await store.close();
    },
  };
}
