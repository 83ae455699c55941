import {
  createInboundQueue,
  createOutboundQueue,
  createRateLimiter,
  createRedis,
  createRedisEventPublisher,
  loadTlsMaterialFromConfig,
  MAX_RECIPIENTS_PER_MESSAGE,
  openStore,
  type Logger,
  type SmtpConfig,
} from '@mailyard/core';
import { buildSmtpApp, buildSubmissionApp } from './app.js';

export interface Endpoints {
  databaseUrl: string;
  redisUrl: string;
}

/** Starts the MX listener on SMTP_PORT and the submission listeners on SUBMISSION_PORT (STARTTLS) and SMTPS_PORT (implicit TLS). */
export async function start(config: SmtpConfig, endpoints: Endpoints, log: Logger) {
  const store = await openStore(endpoints.databaseUrl, log, { poolSize: 20, applicationName: 'smtp-server' });
  // Fail fast when Redis is away: MX mail is already durable (the reconciler enqueues it later),
  // submitted mail is recorded (the outbound reconciler finds it), AUTH answers 454 (fail closed).
  const redis = createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  const inbound = createInboundQueue(redis);
  const outbound = createOutboundQueue(redis);
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
  const submissionApp = buildSubmissionApp(
    { db: store.db, events: createRedisEventPublisher(redis), limiter: createRateLimiter(redis), outbound, dataDir: config.DATA_DIR, log },
    {
      hostname: config.MAIL_HOSTNAME,
      tls,
      socketTimeoutMs: config.SMTP_SOCKET_TIMEOUT_MS,
      limits: {
        maxMessageSize: config.SMTP_MAX_MESSAGE_SIZE,
        maxRecipients: Math.min(config.SMTP_MAX_RECIPIENTS, MAX_RECIPIENTS_PER_MESSAGE),
        maxConnectionsPerIp: config.SMTP_MAX_CONNECTIONS_PER_IP,
      },
    },
  );
  const stopAll = async () => {
    await Promise.all([app.close(), submissionApp.close()]);
    await Promise.all([inbound.close(), outbound.close()]);
    redis.disconnect();
    await store.close();
  };
  let port: number;
  let submissionPorts: { submission: number; smtps: number };
  try {
    port = await app.listen(config.SMTP_PORT, config.BIND_ADDRESS);
    submissionPorts = await submissionApp.listen({ submission: config.SUBMISSION_PORT, smtps: config.SMTPS_PORT }, config.BIND_ADDRESS);
  } catch (err) {
    // One port taken: release the others before failing.
    await stopAll();
    throw err;
  }
  log.info({ event: 'smtp.listening', port, submissionPort: submissionPorts.submission, smtpsPort: submissionPorts.smtps, host: config.BIND_ADDRESS, tls: tls.selfSigned ? 'self-signed' : 'configured' });
  return {
    port,
    submissionPort: submissionPorts.submission,
    smtpsPort: submissionPorts.smtps,
    stop: stopAll,
  };
}
