import { createRateLimiter, createRedis, createRedisEventPublisher, createSubscriberRedis, createSpamLearnQueue, createUserEventHub, MetricsRegistry, openStore, openTlsSourceFromConfig, requireRedis, startHealthServer, startService, type ImapConfig, type Logger, type Running } from '@mailyard/core';
import { buildImapApp } from './app.js';
import { imapRole, startImapPrimary, workerSlots, reportWorkerReady } from './cluster.js';
import type { ConnectionSlots } from './connection-slots.js';
import { createImapMetrics } from './metrics.js';

export interface Endpoints {
  databaseUrl: string;
  redisUrl: string;
}

/**
 * Starts the IMAP service: with IMAP_PROCESSES 1, this process serves (`startImapProcess`); with more,
 * it becomes the cluster primary of that many processes sharing the ports (cluster.ts), and each of
 * them, started again from the same entry (main.js, or `npm start`'s child.js), serves with the
 * connection caps counted by the primary. `npm start` and compose run the same code.
 */
export async function start(config: ImapConfig, endpoints: Endpoints, log: Logger): Promise<Running & { port: number; imapsPort: number; healthPort: number | undefined }> {
  const role = imapRole(config);
  if (role === 'primary') return startImapPrimary(config, log);
  if (role === 'single') return startImapProcess(config, endpoints, log);
  const running = await startImapProcess(config, endpoints, log, workerSlots());
  reportWorkerReady(running);
  return running;
}

/**
 * Starts IMAP on IMAP_PORT (STARTTLS) and IMAPS_PORT (implicit TLS). Redis must answer at start:
 * sign-in limits, the change feed (IDLE) and the events the writer publishes live there. A new
 * TLS_CERT_FILE/TLS_KEY_FILE pair is used by new connections without a restart. With
 * WORKER_HEALTH_PORT: GET /healthz, /readyz and /metrics (metrics.ts) there. When a
 * step fails, what the earlier ones opened is closed.
 */
export function startImapProcess(config: ImapConfig, endpoints: Endpoints, log: Logger, slots?: ConnectionSlots) {
  return startService(log, async (opened) => {
    const store = opened.add(await openStore(endpoints.databaseUrl, log, { poolSize: 20, applicationName: 'imap-server' }), (s) => s.close());
    const redis = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 1 }), (r) => r.disconnect());
    await requireRedis(redis);
    const subscribers = opened.add<Array<ReturnType<typeof createRedis>>>([], (subs) => subs.forEach((sub) => sub.disconnect()));
    const hub = opened.add(
      createUserEventHub({
        createSubscriber: () => {
          const sub = createSubscriberRedis(endpoints.redisUrl);
          subscribers.push(sub);
          return sub;
        },
        log,
      }),
      (h) => h.close(),
    );
    const tlsSource = opened.add(await openTlsSourceFromConfig(config, log), (t) => t.close());
    const tls = tlsSource.current();
    // rspamd (RSPAMD_URL): MOVE/COPY into and out of Junk are queued for the inbound worker to teach it.
    const registry = new MetricsRegistry();
    const spamLearnQueue = config.RSPAMD_URL ? opened.add(createSpamLearnQueue(redis), (q) => q.close()) : null;
    const app = opened.add(
      buildImapApp(
        { db: store.db, events: createRedisEventPublisher(redis), limiter: createRateLimiter(redis), hub, log, spamLearn: { queue: spamLearnQueue, log } },
        {
          hostname: config.MAIL_HOSTNAME,
          tls,
          allowPlaintextAuth: config.IMAP_ALLOW_PLAINTEXT_AUTH,
          maxConnectionsPerIp: config.IMAP_MAX_CONNECTIONS_PER_IP,
          maxConnectionsPerUser: config.IMAP_MAX_CONNECTIONS_PER_USER,
          maxLiteralSize: config.IMAP_MAX_MESSAGE_SIZE,
          idleTimeoutMs: config.IMAP_IDLE_TIMEOUT,
          metrics: createImapMetrics(registry),
          slots,
        },
      ),
      (a) => a.close(),
    );
    tlsSource.onChange((material) => app.updateTls(material));
    const ports = await app.listen({ imap: config.IMAP_PORT, imaps: config.IMAPS_PORT }, config.BIND_ADDRESS);
    // Probes and metrics (WORKER_HEALTH_PORT; unset under `npm start`).
    const health = config.WORKER_HEALTH_PORT === undefined ? undefined : opened.add(await startHealthServer({ db: store.db, redis, metrics: registry }, config.WORKER_HEALTH_PORT, config.BIND_ADDRESS), (h) => h.close());
    log.info({ event: 'imap.listening', pid: process.pid, port: ports.imap, imapsPort: ports.imaps, host: config.BIND_ADDRESS, tls: tls.selfSigned ? 'self-signed' : 'configured' });
    return { port: ports.imap, imapsPort: ports.imaps, healthPort: health?.port };
  });
}
