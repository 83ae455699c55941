import path from 'node:path';
import {
  createInboundQueue,
  createOutboundQueue,
  createRateLimiter,
  createRedis,
  createRedisEventPublisher,
  createSpamEngineFromConfig,
  limitHeapGrowth,
  openTlsSourceFromConfig,
  MAX_RECIPIENTS_PER_MESSAGE,
  MetricsRegistry,
  openStore,
  startHealthServer,
  startService,
  type Logger,
  type SmtpConfig,
} from '@mailyard/core';
import { buildSmtpApp, buildSubmissionApp } from './app.js';
import { createSmtpMetrics } from './metrics.js';

export interface Endpoints {
  databaseUrl: string;
  redisUrl: string;
}

/**
 * Starts the MX listener on SMTP_PORT and the submission listeners on SUBMISSION_PORT (STARTTLS)
 * and SMTPS_PORT (implicit TLS). Starts without Redis: MX mail is durable in the spool (the
 * reconciler enqueues it later), submitted mail is recorded (the outbound reconciler finds it),
 * AUTH answers 454 (fail closed). A new TLS_CERT_FILE/TLS_KEY_FILE pair is used by new sessions
 * without a restart. With WORKER_HEALTH_PORT: GET /healthz, /readyz and /metrics (metrics.ts) there.
 * When a step fails (a port taken, an unreadable certificate), what the earlier ones opened is closed.
 */
export function start(config: SmtpConfig, endpoints: Endpoints, log: Logger) {
  return startService(log, async (opened) => {
    await limitHeapGrowth(); // its peak RSS under load is garbage in the old generation, not messages held (core/src/runtime/heap.ts)
    const store = opened.add(await openStore(endpoints.databaseUrl, log, { poolSize: 20, applicationName: 'smtp-server' }), (s) => s.close());
    // Fail fast when Redis is away (see above): no offline queue, one retry, and a command that a
    // hung Redis never answers fails after 2 s (AUTH answers 454 instead of holding the session).
    const redis = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 2_000 }), (r) => r.disconnect());
    const queues = opened.add({ inbound: createInboundQueue(redis), outbound: createOutboundQueue(redis, { log }) }, (q) => Promise.all([q.inbound.close(), q.outbound.close()]));
    const tlsSource = opened.add(await openTlsSourceFromConfig(config, log), (t) => t.close());
    const tls = tlsSource.current();
    const registry = new MetricsRegistry();
    const metrics = createSmtpMetrics(registry);
    const app = buildSmtpApp(
      { db: store.db, enqueueInbound: (ids) => queues.inbound.enqueue(ids), log },
      {
        hostname: config.MAIL_HOSTNAME,
        tls,
        socketTimeoutMs: config.SMTP_SOCKET_TIMEOUT_MS,
        greetingDelayMs: config.SMTP_GREETING_DELAY_MS,
        metrics,
        // Emptied at start: what a killed process left in DATA (so each process has its own).
        spillDir: config.SMTP_SPILL_DIR ?? path.join(config.DATA_DIR, 'spool-temp'),
        trust: {
          dnsServers: config.DNS_SERVERS,
          trustedNetworks: config.SMTP_TRUSTED_NETWORKS,
          spamThresholds: { junk: config.SPAM_JUNK_THRESHOLD, reject: config.SPAM_REJECT_THRESHOLD },
          spamEngine: createSpamEngineFromConfig(config, log) ?? undefined,
        },
        screening: {
          greylist: config.SMTP_GREYLIST === 'on' ? { redis, delaySeconds: config.SMTP_GREYLIST_DELAY } : undefined,
          connectionChecks: { dnsblZones: config.DNSBL_ZONES, dnsblScore: config.DNSBL_SCORE },
          clamd: config.CLAMD_SOCKET || config.CLAMD_HOST ? { socket: config.CLAMD_SOCKET, host: config.CLAMD_HOST, onError: config.CLAMD_FAIL, counter: redis } : undefined,
        },
        limits: {
          maxMessageSize: config.SMTP_MAX_MESSAGE_SIZE,
          maxRecipients: config.SMTP_MAX_RECIPIENTS,
          maxMessagesPerConnection: config.SMTP_MAX_MESSAGES_PER_CONNECTION,
          maxConnectionsPerIp: config.SMTP_MAX_CONNECTIONS_PER_IP,
          maxMessagesPerIpPerMinute: config.SMTP_MAX_MESSAGES_PER_IP_PER_MINUTE,
          maxClients: config.SMTP_MAX_CLIENTS,
          maxDataPerIp: config.SMTP_MAX_DATA_PER_IP,
        },
      },
    );
    const submissionApp = buildSubmissionApp(
      { db: store.db, events: createRedisEventPublisher(redis), limiter: createRateLimiter(redis), outbound: queues.outbound, dataDir: config.DATA_DIR, log },
      {
        hostname: config.MAIL_HOSTNAME,
        tls,
        socketTimeoutMs: config.SMTP_SOCKET_TIMEOUT_MS,
        metrics,
        limits: {
          maxMessageSize: config.SMTP_MAX_MESSAGE_SIZE,
          maxRecipients: Math.min(config.SMTP_MAX_RECIPIENTS, MAX_RECIPIENTS_PER_MESSAGE),
          maxConnectionsPerIp: config.SMTP_MAX_CONNECTIONS_PER_IP,
        },
      },
    );
    // Both close at once: each lets the sessions in DATA finish.
    opened.add([app, submissionApp], (apps) => Promise.all(apps.map((a) => a.close())));
    tlsSource.onChange(({ key, cert }) => {
      for (const server of [app.mx, submissionApp.submission, submissionApp.smtps]) server.updateSecureContext({ key, cert });
    });
    const port = await app.listen(config.SMTP_PORT, config.BIND_ADDRESS);
    const submissionPorts = await submissionApp.listen({ submission: config.SUBMISSION_PORT, smtps: config.SMTPS_PORT }, config.BIND_ADDRESS);
    // Probes and metrics (WORKER_HEALTH_PORT; unset under `npm start`).
    const health = config.WORKER_HEALTH_PORT === undefined ? undefined : opened.add(await startHealthServer({ db: store.db, redis, metrics: registry, readyWithoutRedis: true }, config.WORKER_HEALTH_PORT, config.BIND_ADDRESS), (h) => h.close());
    log.info({ event: 'smtp.listening', port, submissionPort: submissionPorts.submission, smtpsPort: submissionPorts.smtps, host: config.BIND_ADDRESS, tls: tls.selfSigned ? 'self-signed' : 'configured' });
    return { port, submissionPort: submissionPorts.submission, smtpsPort: submissionPorts.smtps, healthPort: health?.port };
  });
}
