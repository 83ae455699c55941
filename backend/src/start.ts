import type { Redis } from 'ioredis';
import { blobReclaimTask, createRedis, createSubscriberRedis, openStore, openTlsSourceFromConfig, outboundPurgeTask, requireRedis, sharedMessageRenderer, spoolPurgeTask, startAcmeRenewal, startHousekeeping, startService, uploadSweepTask, type HttpConfig, type Logger } from '@mailyard/core';
import { buildBackend } from './app.js';
import { createHttpsListener } from './plugins/https/https-server.js';

/**
 * Starts the API and webmail on HTTP_PORT and HTTPS_PORT (the certificate SMTP and IMAP use, followed
 * as its files change; a trusted one turns on the HTTP to HTTPS redirect and HSTS), and runs the upload sweep (housekeeping: the upload files are
 * in this service's DATA_DIR), the spool purge and the blob reclaim. With ACME_EMAIL it obtains and renews the certificate by ACME (HTTP-01
 * answered on HTTP_PORT) into DATA_DIR, where every service picks it up. Redis must answer at start: sign-in limits, events and the
 * housekeeping schedule live there. When a step fails, what the earlier ones opened is closed.
 */
export function start(config: HttpConfig, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) {
  return startService(log, async (opened) => {
    const store = opened.add(await openStore(endpoints.databaseUrl, log, { poolSize: 10, applicationName: 'backend' }), (s) => s.close());
    const redis = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: 1 }), (r) => r.disconnect());
    await requireRedis(redis);
    const subscribers = opened.add<Redis[]>([], (subs) => subs.forEach((sub) => sub.disconnect()));
    const createSubscriber = () => {
      const sub = createSubscriberRedis(endpoints.redisUrl);
      subscribers.push(sub);
      return sub;
    };
    const tls = opened.add(await openTlsSourceFromConfig(config, log), (t) => t.close());
    // Opened before the app so that it closes after it (the app's preClose ends the SSE streams).
    const httpsListener = opened.add(createHttpsListener(tls, log), (h) => h.close());
    let httpsPort = config.HTTPS_PORT;
    const app = opened.add(
      await buildBackend({ db: store.db, redis, createSubscriber, log }, {
        trustProxy: config.TRUST_PROXY,
        https: { trusted: () => !tls.current().selfSigned, port: () => config.HTTPS_PUBLIC_PORT ?? httpsPort },
        mtaSts: { mode: config.MTA_STS_MODE, maxAgeSeconds: Math.floor(config.MTA_STS_MAX_AGE / 1000) },
        dataDir: config.DATA_DIR, dnsServers: config.DNS_SERVERS, mailHostname: config.MAIL_HOSTNAME, secretKey: config.SECRET_KEY, apiDocs: config.API_DOCS, metrics: config.METRICS_TOKEN, maxMessageBytes: config.SMTP_MAX_MESSAGE_SIZE, importMaxBytes: config.IMPORT_MAX_BYTES, spamLearning: config.RSPAMD_URL !== undefined, clientPorts: { imap: config.IMAP_PORT, imaps: config.IMAPS_PORT, submission: config.SUBMISSION_PORT, smtps: config.SMTPS_PORT } }),
      (a) => a.close(),
    );
    await app.listen({ port: config.HTTP_PORT, host: config.BIND_ADDRESS });
    httpsListener.route(app.routing);
    httpsPort = await httpsListener.listen(config.HTTPS_PORT, config.BIND_ADDRESS);
    // BullMQ workers block on Redis: the housekeeping worker gets a connection of its own.
    const connection = opened.add(createRedis(endpoints.redisUrl, { maxRetriesPerRequest: null }), (r) => r.disconnect());
    opened.add(
      await startHousekeeping({ connection, log }, [
        uploadSweepTask({ db: store.db, dataDir: config.DATA_DIR }),
        spoolPurgeTask({ db: store.db }, { retentionDays: config.SPOOL_RETENTION_DAYS }),
        outboundPurgeTask({ db: store.db }, { retentionDays: config.OUTBOUND_RETENTION_DAYS }),
        blobReclaimTask({ db: store.db, gauges: redis }, { graceMs: config.BLOB_RECLAIM_GRACE }),
      ]),
      (h) => h.stop(),
    );
    if (config.ACME_EMAIL) {
      // After the listeners: the CA's HTTP-01 request must find this (or another) backend answering.
      const acme = startAcmeRenewal(
        { db: store.db, redis, log },
        { email: config.ACME_EMAIL, directoryUrl: config.ACME_DIRECTORY_URL, caFile: config.ACME_CA_FILE, renewBeforeMs: config.ACME_RENEW_BEFORE, checkIntervalMs: config.ACME_CHECK_INTERVAL, dataDir: config.DATA_DIR, hostname: config.MAIL_HOSTNAME, dnsServers: config.DNS_SERVERS },
      );
      opened.add(acme, (a) => a.stop());
    }
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.HTTP_PORT;
    // The first message opened would otherwise wait 1–2 s for the render workers to load their code.
    void sharedMessageRenderer()
      .warm()
      .catch((err: Error) => log.warn({ event: 'render.warm_failed', err: err.message }));
    log.info({ event: 'http.listening', port, httpsPort, host: config.BIND_ADDRESS, tls: tls.current().selfSigned ? 'self-signed' : 'configured', acme: Boolean(config.ACME_EMAIL) });
    return { port, httpsPort };
  });
}
