import { createInboundQueue, createRedis, loadTlsMaterialFromConfig, openStore, type Logger, type SmtpConfig } from '@mailyard/core';
import { buildSmtpApp } from './app.js';

export interface Endpoints {
  databaseUrl: string;
  redisUrl: string;
}

/** Starts the MX listener on SMTP_PORT. */
export async function start(config: SmtpConfig, endpoints: Endpoints, log: Logger) {
  const store = await openStore(endpoints.databaseUrl, log, { poolSize: 20, applicationName: 'smtp-server' });
  // Fail fast when Redis is away: the message is already durable, the reconciler enqueues it later.
  const redis = createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  const inbound = createInboundQueue(redis);
  const tls = await loadTlsMaterialFromConfig(config);
  const app = buildSmtpApp(
    { db: store.db, enqueueInbound: (ids) => inbound.enqueue(ids), log },
    {
      hostname: config.MAIL_HOSTNAME,
      tls,
      socketTimeoutMs: config.SMTP_SOCKET_TIMEOUT_MS,
      greetingDelayMs: config.SMTP_GREETING_DELAY_MS,
      limits: {
        maxMessageSize: config.SMTP_MAX_MESSAGE_SIZE,
        maxRecipients: config.SMTP_MAX_RECIPIENTS,
        maxMessagesPerConnection: config.SMTP_MAX_MESSAGES_PER_CONNECTION,
        maxConnectionsPerIp: config.SMTP_MAX_CONNECTIONS_PER_IP,
        maxMessagesPerIpPerMinute: config.SMTP_MAX_MESSAGES_PER_IP_PER_MINUTE,
      },
    },
  );
  const port = await app.listen(config.SMTP_PORT, config.BIND_ADDRESS);
  log.info({ event: 'smtp.listening', port, host: config.BIND_ADDRESS, tls: tls.selfSigned ? 'self-signed' : 'configured' });
  return {
    port,
    async stop() {
      await app.close();
      await inbound.close();
      redis.disconnect();
      await store.close();
    },
  };
}
