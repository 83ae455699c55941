import os from 'node:os';
import path from 'node:path';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import { createInlineImageLinks, createRateLimiter, createSecretBox, createSessionService, createSpamLearnQueue, loadSecretKey, type Db, type Logger, type MetricsAccess } from '@mailyard/core';
import type { BackendContext } from './context.js';
import { registerAuth } from './plugins/auth.plugin.js';
import { frameworkErrors, registerErrorHandling } from './plugins/errors.plugin.js';
import { registerHttpsPolicy, type HttpsPolicy } from './plugins/https/https.plugin.js';
import { acmeChallengeRoutes } from './plugins/https/acme-challenge.routes.js';
import { registerMetrics } from './plugins/metrics.plugin.js';
import { registerWebmail } from './plugins/webmail.plugin.js';
import { adminRoutes } from './routes/admin/admin.routes.js';
import { adminQueueRoutes } from './routes/admin/admin-queue.routes.js';
import { accountRoutes } from './routes/account/account.routes.js';
import { accountExportRoutes } from './routes/account/export.routes.js';
import { accountImportRoutes } from './routes/account/import.routes.js';
import { accountSettingsRoutes } from './routes/account/settings.routes.js';
import { accountUsageRoutes } from './routes/account/usage.routes.js';
import { authRoutes } from './routes/auth/auth.routes.js';
import { autoconfigRoutes, type ClientPorts } from './routes/autoconfig/autoconfig.routes.js';
import { eventsRoutes, type EventStreamOptions } from './routes/events/events.routes.js';
import { filterRoutes } from './routes/filters/filters.routes.js';
import { healthRoutes } from './routes/health/health.routes.js';
import { mailboxRoutes } from './routes/mailboxes/mailboxes.routes.js';
import { inlineImageRoutes, messageRoutes } from './routes/messages/messages.routes.js';
import { mtaStsRoutes, type MtaStsSettings } from './routes/mta-sts/mta-sts.routes.js';
import { searchRoutes } from './routes/search/search.routes.js';
import { composeRoutes } from './routes/compose/compose.routes.js';
import { outboundRoutes } from './routes/outbound/outbound.routes.js';

export interface BackendDeps {
  db: Db;
  redis: Redis;
  createSubscriber(): Redis;
  log: Logger;
}

export interface BackendOptions {
  /**
   * TRUST_PROXY: the proxies (CIDRs) whose X-Forwarded-For/-Proto/-Host count, for the client IP
   * (sign-in limits, audit log) and the protocol (Secure cookies, the HTTPS redirect); default none.
   */
  trustProxy?: readonly string[];
  /** Redirect HTTP to HTTPS and send HSTS while a trusted certificate is in use; default off. */
  https?: HttpsPolicy;
  /** The MTA-STS policy served at mta-sts.<domain>; default mode testing, max_age one week. */
  mtaSts?: MtaStsSettings;
  /** SSE settings (heartbeat interval, replay limit); tests shorten the heartbeat. */
  events?: Partial<EventStreamOptions>;
  /** DATA_DIR (uploads live under `<dataDir>/uploads`); default ./data. */
  dataDir?: string;
  /** DNS_SERVERS for the admin DNS check; default [] (the system's resolvers). */
  dnsServers?: string[];
  /** MAIL_HOSTNAME; default the machine's host name. */
  mailHostname?: string;
  /** The public IMAP and submission ports autoconfiguration tells clients; default 143/993/587/465. */
  clientPorts?: ClientPorts;
  /** SECRET_KEY; unset: `<dataDir>/secret.key`, created on first start. */
  secretKey?: string;
  /** API_DOCS: serve the OpenAPI UI and document at /api/docs; default on (tests read the document). */
  apiDocs?: boolean;
  /** METRICS_TOKEN as parsed by the config: who may read GET /metrics; default 'open'. */
  metrics?: MetricsAccess;
  /** SMTP_MAX_MESSAGE_SIZE: the largest message a user may write (drafts, sending); default 25 MB. */
  maxMessageBytes?: number;
  /** IMPORT_MAX_BYTES: the largest mbox file a user may import; default 1 GiB. */
  importMaxBytes?: number;
  /** The built webmail; default frontend/dist of this checkout. */
  webmailDir?: string;
  /** RSPAMD_URL is set: moves into and out of Junk are queued (`spam-learn`) to teach it; default off. */
  spamLearning?: boolean;
}

/** The HTTP API, built without listening (tests use `app.inject`). */
export async function buildBackend(deps: BackendDeps, options: BackendOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: options.trustProxy && options.trustProxy.length > 0 ? [...options.trustProxy] : false,
    bodyLimit: 1024 * 1024,
    frameworkErrors,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  const mailHostname = options.mailHostname ?? os.hostname();
  if (options.https) registerHttpsPolicy(app, options.https, mailHostname);

  if (options.apiDocs ?? true) {
    await app.register(swagger, {
      openapi: { info: { title: 'Mailyard API', version: '0.1.0', description: 'Mail, accounts and live updates. Errors: { error: { code, message }, requestId }. Every shape here is a zod schema of @mailyard/core/contracts.' } },
      transform: jsonSchemaTransform,
    });
    await app.register(swaggerUi, { routePrefix: '/api/docs' });
  }
  await app.register(cookie);

  const dataDir = options.dataDir ?? path.resolve('data');
  const secretKey = loadSecretKey(dataDir, options.secretKey);
  const spamLearnQueue = options.spamLearning ? createSpamLearnQueue(deps.redis) : null;
  const ctx: BackendContext = {
    db: deps.db,
    redis: deps.redis,
    createSubscriber: deps.createSubscriber,
    log: deps.log,
    sessions: createSessionService({ db: deps.db }),
    limiter: createRateLimiter(deps.redis),
    dataDir,
    secrets: createSecretBox(secretKey),
    inlineImages: createInlineImageLinks(secretKey),
    dnsServers: options.dnsServers ?? [],
    mailHostname,
    spamLearn: { queue: spamLearnQueue, log: deps.log },
  };
  if (spamLearnQueue) app.addHook('onClose', () => spamLearnQueue.close());
  registerAuth(app, ctx.sessions);
  registerMetrics(app, { db: deps.db, redis: deps.redis, access: options.metrics ?? 'open' });

  await app.register(healthRoutes(ctx));
  await app.register(authRoutes(ctx));
  await app.register(accountRoutes(ctx));
  await app.register(accountSettingsRoutes(ctx));
  await app.register(accountExportRoutes(ctx));
  await app.register(accountImportRoutes(ctx, { maxBytes: options.importMaxBytes }));
  await app.register(accountUsageRoutes(ctx));
  await app.register(mailboxRoutes(ctx));
  await app.register(messageRoutes(ctx));
  await app.register(inlineImageRoutes(ctx));
  await app.register(filterRoutes(ctx));
  await app.register(searchRoutes(ctx));
  await app.register(eventsRoutes(ctx, options.events));
  await app.register(adminRoutes(ctx));
  await app.register(adminQueueRoutes(ctx));
  await app.register(composeRoutes(ctx, { maxMessageBytes: options.maxMessageBytes }));
  await app.register(outboundRoutes(ctx));
  await app.register(acmeChallengeRoutes(ctx));
  await app.register(mtaStsRoutes(ctx, options.mtaSts ?? { mode: 'testing', maxAgeSeconds: 7 * 24 * 3600 }));
  await app.register(autoconfigRoutes(ctx, options.clientPorts ?? { imap: 143, imaps: 993, submission: 587, smtps: 465 }));
  await registerWebmail(app, { distDir: options.webmailDir });
  return app;
}
