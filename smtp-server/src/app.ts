import fs from 'node:fs';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import {
  checkConnection,
  createAuthDnsResolver,
  createClamdScanner,
  createGreylist,
  createInboundTrust,
  createMxVirusScan,
  createMxRecipientResolver,
  createSubmissionServices,
  DEFAULT_TRUSTED_NETWORKS,
  listenOn,
  parseTrustedNetworks,
  SpoolWriter,
  type Db,
  type Logger,
  type MxServices,
  type SendDeps,
  type SignInFailureRules,
  type SpamEngine,
  type SpamThresholds,
  type SubmissionServices,
  type TrustedNetworks,
  VIRUS_REFUSED_COUNTER,
  type createRedis,
} from '@mailyard/core';
import { createMxHandlers, type MxLimits } from './handlers/mx-session.handlers.js';
import { createSubmissionHandlers, type SubmissionLimits } from './handlers/submission-session.handlers.js';
import type { SmtpMetrics } from './metrics.js';
import { useRfc4954AuthTlsReply } from './protocol/auth-requires-tls.js';
import { useDataAdmission } from './protocol/data-admission.js';
import { prepareSpillFolder, privateSpillFolder } from './protocol/data-stream.js';
import { useOwnEnhancedStatusCodes } from './protocol/enhanced-status.js';
import { useConfigurableGreetingDelay } from './protocol/greeting-delay.js';
import { useListenerObserver } from './protocol/observe.js';
import { useBatchedReplies } from './protocol/reply-batching.js';
import { submissionReplies } from './protocol/replies.js';

export interface SmtpAppDeps {
  db: Db;
  enqueueInbound(spoolIds: number[]): Promise<void>;
  log: Logger;
}

export interface SmtpAppOptions {
  hostname: string;
  tls: { key: Buffer; cert: Buffer };
  limits: MxLimits;
  socketTimeoutMs?: number;
  /** Pause before the 220 greeting; 0 greets at once. */
  greetingDelayMs?: number;
  /**
   * The private folder where DATA larger than the threshold is received (DATA_DIR/spool-temp):
   * made 0700 and emptied when the listener is built. Without it, a fresh folder under the
   * system temp folder, removed on close.
   */
  spillDir?: string;
  /** Counts sessions, replies and accepted messages (label `mx`); absent: not counted. */
  metrics?: SmtpMetrics;
}

/** Inbound authentication settings (DNS_SERVERS, SMTP_TRUSTED_NETWORKS); system DNS and loopback trusted by default. */
export interface MxTrustOptions {
  dnsServers?: readonly string[];
  trustedNetworks?: TrustedNetworks;
  /** SPAM_JUNK_THRESHOLD and SPAM_REJECT_THRESHOLD; default 6 and 15. */
  spamThresholds?: SpamThresholds;
  /** rspamd (RSPAMD_URL); absent: the built-in content rules score. */
  spamEngine?: SpamEngine;
}

/** The MX's abuse controls (issue 11: core/src/mail/spam/); each one absent is off. */
export interface MxScreeningOptions {
  /** Greylisting state in Redis (SMTP_GREYLIST, SMTP_GREYLIST_DELAY). */
  greylist?: { redis: ReturnType<typeof createRedis>; delaySeconds: number };
  /** DNSBL (DNSBL_ZONES, DNSBL_SCORE) and forward-confirmed reverse DNS of each client. */
  connectionChecks?: { dnsblZones: readonly string[]; dnsblScore: number };
  /** clamd (CLAMD_SOCKET or CLAMD_HOST, CLAMD_FAIL); infected messages are counted in `counter` (Redis), when given. */
  clamd?: { socket?: string; host?: string; onError: 'tempfail' | 'accept'; timeoutMs?: number; counter?: ReturnType<typeof createRedis> };
}

export interface MxListener {
  mx: SMTPServer;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

export interface SmtpApp extends MxListener {
  spool: SpoolWriter;
}

/** Builds the MX listener (port 25) on the real store without listening (tests call this directly). */
export function buildSmtpApp(deps: SmtpAppDeps, options: SmtpAppOptions & { trust?: MxTrustOptions; screening?: MxScreeningOptions }): SmtpApp {
  const spool = new SpoolWriter({ db: deps.db, enqueue: deps.enqueueInbound, log: deps.log });
  const resolver = createAuthDnsResolver(options.trust?.dnsServers ?? []);
  const trust = createInboundTrust({
    db: deps.db,
    resolver,
    hostname: options.hostname,
    trustedNetworks: options.trust?.trustedNetworks ?? parseTrustedNetworks(DEFAULT_TRUSTED_NETWORKS),
    spamThresholds: options.trust?.spamThresholds,
    spamEngine: options.trust?.spamEngine,
  });
  const { greylist, connectionChecks, clamd } = options.screening ?? {};
  const services: MxServices = {
    recipients: createMxRecipientResolver(deps.db),
    spool,
    trust,
    greylist:
      greylist &&
      createGreylist({
        db: deps.db,
        redis: greylist.redis,
        delaySeconds: greylist.delaySeconds,
        onUnavailable: (err) => deps.log.warn({ event: 'smtp.greylist.unavailable', err: err.message }),
      }),
    connectionChecks: connectionChecks && { check: (input) => checkConnection({ resolver, ...connectionChecks }, input) },
    virusScan:
      clamd &&
      createMxVirusScan(createClamdScanner(clamd), { onError: clamd.onError, count: clamd.counter && (() => clamd.counter!.incr(VIRUS_REFUSED_COUNTER)) }),
  };
  const listener = buildMxListener({ services, log: deps.log }, options);
  return {
    ...listener,
    spool,
    async close() {
      // Stop accepting, let sessions in DATA finish, then flush what is being committed.
      await listener.close();
      await spool.close();
    },
  };
}

/** The MX listener on the services it is given, without listening (transcript tests give it in-memory fakes). */
export function buildMxListener(deps: { services: MxServices; log: Logger }, options: SmtpAppOptions): MxListener {
  useOwnEnhancedStatusCodes();
  useConfigurableGreetingDelay();
  useDataAdmission();
  useListenerObserver();
  useBatchedReplies();
  let shuttingDown = false;
  const spillDir = options.spillDir ?? privateSpillFolder();
  if (options.spillDir) prepareSpillFolder(spillDir);
  const handlers = createMxHandlers({ services: deps.services, log: deps.log, hostname: options.hostname, limits: options.limits, spillDir, isShuttingDown: () => shuttingDown });

  const mx: SMTPServer = new SMTPServer({
    name: options.hostname,
    banner: 'Mailyard', // the library writes `220 <name> ESMTP <banner>`
    key: options.tls.key,
    cert: options.tls.cert,
    size: options.limits.maxMessageSize,
    // Over it: 421 4.7.0 (protocol/greeting-delay.ts).
    maxClients: options.limits.maxClients,
    authOptional: true,
    disabledCommands: ['AUTH'],
    hideENHANCEDSTATUSCODES: false,
    // The client's reverse DNS name is not used by any check yet; looking it up only adds latency.
    disableReverseLookup: true,
    socketTimeout: options.socketTimeoutMs ?? 60_000,
    closeTimeout: 5_000,
    logger: false,
    ...handlers,
    ...options.metrics?.listener('mx', handlers, () => mx),
    // read by protocol/greeting-delay.ts (not an option of the library itself)
    ...({ greetingDelayMs: options.greetingDelayMs ?? 0 } as object),
  });
  mx.on('error', (err) => deps.log.warn({ event: 'smtp.server.error', err: err.message }));

  return {
    mx,
    listen(port, host) {
      return listenSmtp(mx, port, host);
    },
    async close() {
      shuttingDown = true;
      // Stop accepting and let sessions in DATA finish.
      await closeServer(mx);
      if (!options.spillDir) fs.rmSync(spillDir, { recursive: true, force: true });
    },
  };
}

/** Listens on host:port; resolves with the port bound (useful with port 0). */
function listenSmtp(server: SMTPServer, port: number, host: string): Promise<number> {
  return listenOn(server.server, port, host, (done) => server.listen(port, host, done));
}

function closeServer(server: SMTPServer): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

/** What the submission listeners need: core's send path (store, events, rate limiter, outbound queue). */
export interface SubmissionAppDeps extends SendDeps {
  log: Logger;
}

export interface SubmissionAppOptions {
  hostname: string;
  tls: { key: Buffer; cert: Buffer };
  limits: SubmissionLimits;
  /** Failed-AUTH limits; core's sign-in limits (shared with web and IMAP sign-in) by default. */
  authRules?: SignInFailureRules;
  socketTimeoutMs?: number;
  /** Counts sessions, replies and accepted messages (labels `submission`, `smtps`); absent: not counted. */
  metrics?: SmtpMetrics;
}

export interface SubmissionApp {
  /** Port 587: plain text until STARTTLS, which AUTH requires. */
  submission: SMTPServer;
  /** Port 465: implicit TLS (RFC 8314). */
  smtps: SMTPServer;
  listen(ports: { submission: number; smtps: number }, host: string): Promise<{ submission: number; smtps: number }>;
  close(): Promise<void>;
}

/**
 * Builds the submission listeners on the real store without listening: mail clients authenticate
 * (AUTH PLAIN or LOGIN, over TLS only) and send as their own addresses, to anyone.
 */
export function buildSubmissionApp(deps: SubmissionAppDeps, options: SubmissionAppOptions): SubmissionApp {
  const { authRules, ...listenerOptions } = options;
  return buildSubmissionListeners({ services: createSubmissionServices(deps, { authRules }), log: deps.log }, listenerOptions);
}

/**
 * The submission listeners on the services they are given, without listening (transcript tests
 * give them in-memory fakes). Both listeners share one set of handlers (one per-IP connection count).
 */
export function buildSubmissionListeners(deps: { services: SubmissionServices; log: Logger }, options: Omit<SubmissionAppOptions, 'authRules'>): SubmissionApp {
  useOwnEnhancedStatusCodes();
  useConfigurableGreetingDelay();
  useRfc4954AuthTlsReply();
  useListenerObserver();
  useBatchedReplies();
  let shuttingDown = false;
  const { log } = deps;
  const handlers = createSubmissionHandlers({ services: deps.services, log, hostname: options.hostname, limits: options.limits, isShuttingDown: () => shuttingDown });

  const common: SMTPServerOptions = {
    name: options.hostname,
    banner: 'Mailyard',
    key: options.tls.key,
    cert: options.tls.cert,
    size: options.limits.maxMessageSize,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    // AUTH before STARTTLS is refused without a SASL exchange or a password check (538 5.7.11).
    allowInsecureAuth: false,
    authRequiredMessage: submissionReplies.authRequiredText,
    hideENHANCEDSTATUSCODES: false,
    disableReverseLookup: true,
    socketTimeout: options.socketTimeoutMs ?? 60_000,
    closeTimeout: 5_000,
    logger: false,
    ...handlers.callbacks,
  };
  const submission: SMTPServer = new SMTPServer({ ...common, ...options.metrics?.listener('submission', handlers.callbacks, () => submission) });
  const smtps: SMTPServer = new SMTPServer({ ...common, ...options.metrics?.listener('smtps', handlers.callbacks, () => smtps), secure: true });
  for (const [name, server] of [['submission', submission], ['smtps', smtps]] as const) {
    server.on('error', (err) => log.warn({ event: 'smtp.server.error', listener: name, err: err.message }));
  }

  return {
    submission,
    smtps,
    async listen(ports, host) {
      const bound = await listenSmtp(submission, ports.submission, host);
      return { submission: bound, smtps: await listenSmtp(smtps, ports.smtps, host) };
    },
    async close() {
      shuttingDown = true;
      // Stop accepting, let sessions in DATA finish, then wait for what core is committing.
      await Promise.all([closeServer(submission), closeServer(smtps)]);
      await handlers.drain();
    },
  };
}
