import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_TRUSTED_NETWORKS, parseTrustedNetworks } from '../mail/trusted-networks.js';
import { parseHostPort, sentinelTarget } from '../queue/redis.js';

/**
 * Configuration is read here and nowhere else. Each service has one zod schema; `loadConfig`
 * parses the environment once and fails fast with every bad key listed, so an operator fixes
 * the whole file in one go instead of one restart per typo.
 */

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
/** The largest message accepted: the MX's SIZE, and the cap on what users write through the API. */
const maxMessageSize = positiveInt.default(25 * 1024 * 1024);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** Defaults that differ between the one-process developer stack and a container. */
export type RunMode = 'local' | 'service';

/** Who may read GET /metrics: holders of the token, anyone (`npm start` on loopback), or nobody (404). */
export type MetricsAccess = { token: string } | 'open' | 'off';

const localPorts = { SMTP_PORT: 2525, SUBMISSION_PORT: 2587, SMTPS_PORT: 2465, IMAP_PORT: 2143, IMAPS_PORT: 2993, HTTP_PORT: 8080, HTTPS_PORT: 8443 };
const servicePorts = { SMTP_PORT: 25, SUBMISSION_PORT: 587, SMTPS_PORT: 465, IMAP_PORT: 143, IMAPS_PORT: 993, HTTP_PORT: 8080, HTTPS_PORT: 8443 };

function baseShape(mode: RunMode) {
  return {
    NODE_ENV: z.enum(['development', 'production', 'test']).default(mode === 'local' ? 'development' : 'production'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DATA_DIR: z.string().default('./data').transform((p) => path.resolve(p)),
    DATABASE_URL: optionalString,
    REDIS_URL: optionalString,
    ...redisSentinelShape(),
    MAIL_HOSTNAME: z
      .string()
      .default(os.hostname())
      .refine((h) => /^[a-z0-9.-]+$/i.test(h), 'must be a host name'),
    DNS_SERVERS: optionalString.transform((v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : [])),
    BIND_ADDRESS: z.string().default(mode === 'local' ? '127.0.0.1' : '0.0.0.0'),
    /**
     * Seals TOTP seeds and DKIM private keys at rest (64 hex characters); unset: DATA_DIR/secret.key,
     * made on first start. Every process that reads them (backend, outbound worker, CLI) needs the same.
     */
    SECRET_KEY: optionalString,
    ...rspamdShape(),
  };
}

/**
 * Redis under Sentinel (instead of REDIS_URL): the services ask the sentinels for the master and
 * follow a failover (core/src/queue/redis.ts).
 */
function redisSentinelShape() {
  return {
    /** The sentinels, comma-separated `host:port` (e.g. redis-0.redis:26379,redis-1.redis:26379). */
    REDIS_SENTINELS: optionalString.transform((v, ctx) => {
      const list = v ? v.split(',').map((s) => s.trim()).filter(Boolean) : [];
      const bad = list.filter((s) => parseHostPort(s) === null);
      if (bad.length > 0) {
        ctx.addIssue({ code: 'custom', message: `not host:port: ${bad.map((b) => `"${b}"`).join(', ')} (comma-separated sentinels)` });
        return z.NEVER;
      }
      return list;
    }),
    /** The master's name in the sentinels' configuration (`sentinel monitor <name> …`). */
    REDIS_SENTINEL_NAME: z
      .string()
      .default('mailyard')
      .refine((v) => /^[A-Za-z0-9._-]+$/.test(v), 'must be a Sentinel master name (letters, digits, . _ -)'),
    /** With REDIS_SENTINELS: the password of the Redis servers and the sentinels (their requirepass); unset: none. */
    REDIS_PASSWORD: optionalString,
  };
}

/**
 * rspamd (core/src/mail/spam/rspamd.ts): the MX scores with it, the API and IMAP ask the inbound
 * worker to teach it the user's moves into and out of Junk. Unset RSPAMD_URL: built-in rules, no learning.
 */
function rspamdShape() {
  const httpUrl = optionalString.refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), 'must be an http:// or https:// URL');
  return {
    /** rspamd's normal worker (checkv2), e.g. http://127.0.0.1:11333. */
    RSPAMD_URL: httpUrl,
    /** rspamd's controller (learnspam/learnham), e.g. http://127.0.0.1:11334; unset: RSPAMD_URL. */
    RSPAMD_CONTROLLER_URL: httpUrl,
    /** The controller's password (its `password`/`enable_password`); unset: rspamd's secure_ip decides. */
    RSPAMD_PASSWORD: optionalString,
    /** How long a check or learn may take before the built-in rules decide (check) or the job retries (learn). */
    RSPAMD_TIMEOUT: duration('5s'),
  };
}

function smtpShape(mode: RunMode) {
  const ports = mode === 'local' ? localPorts : servicePorts;
  return {
    SMTP_PORT: port.default(ports.SMTP_PORT),
    ...workerHealthShape(),
    SUBMISSION_PORT: port.default(ports.SUBMISSION_PORT),
    SMTPS_PORT: port.default(ports.SMTPS_PORT),
    ...tlsShape(),
    SMTP_MAX_MESSAGE_SIZE: maxMessageSize,
    SMTP_MAX_RECIPIENTS: positiveInt.default(100),
    SMTP_MAX_MESSAGES_PER_CONNECTION: positiveInt.default(1000),
    SMTP_MAX_CONNECTIONS_PER_IP: positiveInt.default(100),
    /** Connections at once on the MX listener, from all addresses; over it, 421 4.7.0. */
    SMTP_MAX_CLIENTS: positiveInt.default(500),
    /** MX transactions in DATA at once from one address; over it, DATA gets 451 4.7.1 (the sender retries). */
    SMTP_MAX_DATA_PER_IP: positiveInt.default(10),
    SMTP_MAX_MESSAGES_PER_IP_PER_MINUTE: positiveInt.default(6000),
    SMTP_SOCKET_TIMEOUT_MS: positiveInt.default(60_000),
    /** Where DATA over 256 KiB is spilled, emptied at start, so one folder per process; unset: DATA_DIR/spool-temp. */
    SMTP_SPILL_DIR: optionalString,
    /** Pause before the 220 greeting (a pre-greeting test for early talkers); 0 greets at once. */
    SMTP_GREETING_DELAY_MS: z.coerce.number().int().min(0).max(30_000).default(0),
    /** Clients whose mail is checked but never refused or sent to Junk by the checks: comma-separated CIDRs, or `none`. */
    SMTP_TRUSTED_NETWORKS: z
      .string()
      .default(DEFAULT_TRUSTED_NETWORKS)
      .transform((text, ctx) => {
        try {
          return parseTrustedNetworks(text);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: `${(err as Error).message} (comma-separated CIDRs, or none)` });
          return z.NEVER;
        }
      }),
    /** Greylisting on the MX (core/src/mail/spam/greylist.ts); per domain it can also be turned off. */
    SMTP_GREYLIST: z.enum(['on', 'off']).default('on'),
    /** Seconds before a greylisted sender's retry is accepted; 0 accepts the first retry at once. */
    SMTP_GREYLIST_DELAY: z.coerce.number().int().min(0).max(86_400).default(300),
    /** DNSBL zones the MX looks clients up in (comma-separated; none by default). */
    DNSBL_ZONES: optionalString.transform((v) => (v ? v.split(',').map((s) => s.trim().toLowerCase().replace(/\.$/, '')).filter(Boolean) : [])),
    /** Spam score of a listing in one DNSBL zone. */
    DNSBL_SCORE: z.coerce.number().min(0).max(100).default(3),
    /** clamd's unix socket; or CLAMD_HOST (host:port). Neither: no virus scanning. */
    CLAMD_SOCKET: optionalString,
    CLAMD_HOST: optionalString.refine((v) => v === undefined || /^\[?[^\]]+?\]?:\d+$/.test(v), 'must be host:port'),
    /** When clamd cannot answer: 451 4.7.0 (tempfail) or accept the message unscanned. */
    CLAMD_FAIL: z.enum(['tempfail', 'accept']).default('tempfail'),
    /** Spam score at which received mail is filed in Junk (core/src/mail/spam/score.ts). */
    SPAM_JUNK_THRESHOLD: z.coerce.number().positive().default(6),
    /** Spam score at which received mail is refused at DATA (550 5.7.1), unless every recipient allow-lists the sender. */
    SPAM_REJECT_THRESHOLD: z.coerce.number().positive().default(15),
  };
}

/** The certificate HTTPS, SMTP and IMAP share: files (followed as they change), else self-signed. */
function tlsShape() {
  return {
    TLS_CERT_FILE: optionalString,
    TLS_KEY_FILE: optionalString,
    /** How often TLS_CERT_FILE/TLS_KEY_FILE (or the ACME certificate) are checked for a new pair (served without a restart). */
    TLS_RELOAD_INTERVAL: duration('30s'),
    /** Set: the backend obtains the certificate by ACME into DATA_DIR/acme, and every service serves it. */
    ACME_EMAIL: optionalString.refine((v) => v === undefined || /^[^\s@]+@[^\s@]+$/.test(v), 'must be an e-mail address (the ACME account contact)'),
  };
}

/** ACME (the backend orders and renews; see core/src/runtime/acme). */
function acmeShape() {
  return {
    /** The ACME directory; default Let's Encrypt production. */
    ACME_DIRECTORY_URL: z.string().url().default('https://acme-v02.api.letsencrypt.org/directory'),
    /** A private CA's certificate (PEM) for the ACME server's own HTTPS, e.g. pebble's. */
    ACME_CA_FILE: optionalString,
    /** A certificate expiring within this long is renewed. */
    ACME_RENEW_BEFORE: duration('30d'),
    /** How often the backend checks whether a certificate is needed (new domains, expiry). */
    ACME_CHECK_INTERVAL: duration('12h'),
  };
}

function workerShape() {
  return {
    /** Messages the inbound worker reads and parses at once (their bytes in memory). */
    INBOUND_CONCURRENCY: positiveInt.default(16),
    /** Messages it files at once, from their read to their group commit: how large a commit can grow. */
    INBOUND_FILING_WINDOW: positiveInt.default(128),
    SPOOL_RECONCILE_INTERVAL_MS: positiveInt.default(30_000),
    SPOOL_RECONCILE_AGE_MS: z.coerce.number().int().min(0).default(60_000),
    /** How long a job may run before another worker may take it over (after a crash). */
    INBOUND_LOCK_MS: positiveInt.default(30_000),
    ...workerHealthShape(),
  };
}

/**
 * WORKER_HEALTH_PORT: the probe and metrics port of a service without the HTTP API (the workers,
 * smtp-server, imap-server): GET /healthz, /readyz and /metrics for compose, orchestrators and
 * Prometheus; unset: none (`npm start`).
 */
function workerHealthShape() {
  return { WORKER_HEALTH_PORT: port.optional() };
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `5m`, `4h`, `5d`, `250ms` (a bare number is milliseconds) → milliseconds; NaN if not a duration. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  return m ? Math.round(Number(m[1]) * durationUnits[m[2] ?? 'ms']!) : Number.NaN;
}

/** A duration setting in milliseconds, written like `30s` or `5d`. */
function duration(fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (!Number.isFinite(ms) || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (examples: 250ms, 30s, 5m, 4h, 5d)` });
        return z.NEVER;
      }
      return ms;
    });
}

function outboundShape() {
  return {
    OUTBOUND_CONCURRENCY: positiveInt.default(200),
    /** SMTP transactions at once to one remote host (Postfix's default destination concurrency). */
    OUTBOUND_MAX_CONNECTIONS_PER_HOST: positiveInt.default(20),
    /** Waits between delivery attempts (the last one repeats until the message expires). */
    OUTBOUND_RETRY_SCHEDULE: z
      .string()
      .default('5m,10m,20m,40m,1h,2h,4h,8h')
      .transform((v, ctx) => {
        const steps = v.split(',').map((s) => parseDuration(s));
        if (steps.length === 0 || steps.some((ms) => !Number.isFinite(ms) || ms <= 0)) {
          ctx.addIssue({ code: 'custom', message: `"${v}" must be a comma-separated list of durations (e.g. 5m,30m,2h)` });
          return z.NEVER;
        }
        return steps;
      }),
    /** A message not delivered after this long is returned to its sender. */
    OUTBOUND_EXPIRE_AFTER: duration('5d'),
    /** A message still undelivered after this long: its sender gets one "delayed" notice. `off` disables. */
    OUTBOUND_DELAY_WARNING: z
      .string()
      .default('4h')
      .transform((v, ctx) => {
        if (v.trim() === 'off' || v.trim() === '0') return null;
        const ms = parseDuration(v);
        if (!Number.isFinite(ms) || ms <= 0) {
          ctx.addIssue({ code: 'custom', message: `"${v}" is not a duration (e.g. 4h) or "off"` });
          return z.NEVER;
        }
        return ms;
      }),
    /** Test-only: the port remote MX hosts are contacted on (25 on the Internet). */
    OUTBOUND_SMTP_PORT: port.default(25),
    /** Deliver to MX hosts on loopback, private, link-local or unique-local addresses (tests, closed networks). */
    OUTBOUND_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
    OUTBOUND_CONNECT_TIMEOUT: duration('30s'),
    OUTBOUND_SOCKET_TIMEOUT: duration('5m'),
    /** How long a worker holds recipients while talking to a remote server (a crashed worker's are retaken after it). */
    OUTBOUND_LEASE: duration('15m'),
    OUTBOUND_RECONCILE_INTERVAL: duration('30s'),
    ...workerHealthShape(),
  };
}

function httpShape(mode: RunMode) {
  const ports = mode === 'local' ? localPorts : servicePorts;
  return {
    HTTP_PORT: port.default(ports.HTTP_PORT),
    HTTPS_PORT: port.default(ports.HTTPS_PORT),
    /** The HTTPS port clients reach (HTTP redirects there) when a proxy or port mapping differs from HTTPS_PORT. */
    HTTPS_PUBLIC_PORT: port.optional(),
    ...tlsShape(),
    ...acmeShape(),
    /**
     * The reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated CIDRs); unset:
     * none, so the peer's own address counts for sign-in limits and the audit log.
     */
    TRUST_PROXY: z
      .string()
      .default('none')
      .transform((text, ctx) => {
        try {
          return parseTrustedNetworks(text.trim() === '' ? 'none' : text).cidrs;
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: `${(err as Error).message} (comma-separated CIDRs of your proxies)` });
          return z.NEVER;
        }
      }),
    /** The MTA-STS policy mode served at mta-sts.<domain> (RFC 8461). */
    MTA_STS_MODE: z.enum(['testing', 'enforce', 'none']).default('testing'),
    /** The policy's max_age: how long senders may cache it. */
    MTA_STS_MAX_AGE: duration('7d'),
    /** The ports mail clients are told to use by autoconfiguration: the IMAP and submission services' own. */
    IMAP_PORT: port.default(ports.IMAP_PORT),
    IMAPS_PORT: port.default(ports.IMAPS_PORT),
    SUBMISSION_PORT: port.default(ports.SUBMISSION_PORT),
    SMTPS_PORT: port.default(ports.SMTPS_PORT),
    SMTP_MAX_MESSAGE_SIZE: maxMessageSize,
    /** The largest mbox file a user may import from the webmail (POST /api/account/import; 413 beyond). */
    IMPORT_MAX_BYTES: positiveInt.default(1024 * 1024 * 1024),
    /** The OpenAPI UI and document at /api/docs: on under `npm start`, off (404) for a service unless turned on. */
    API_DOCS: z
      .enum(['on', 'off'])
      .default(mode === 'local' ? 'on' : 'off')
      .transform((v) => v === 'on'),
    /**
     * The bearer token GET /metrics asks for, read as who may scrape: with a token, its holders;
     * without, anyone under `npm start` (it binds to loopback) and nobody (404) for a service.
     */
    METRICS_TOKEN: optionalString
      .refine((v) => v === undefined || v.length >= 16, 'must be at least 16 characters (e.g. openssl rand -hex 32)')
      .transform((token): MetricsAccess => (token ? { token } : mode === 'local' ? 'open' : 'off')),
    /** Storage reclaim (the backend's housekeeping): unreferenced message bytes are deleted once stored this long ago. */
    BLOB_RECLAIM_GRACE: duration('1h'),
    /** Spool rows filed this many days ago are purged (their bytes then go with the blob reclaim unless a message holds them). */
    SPOOL_RETENTION_DAYS: positiveInt.default(7),
    /** Sent mail whose every recipient was settled this many days ago lets go of its outbound copy of the bytes (the delivery status stays). */
    OUTBOUND_RETENTION_DAYS: positiveInt.default(30),
  };
}

function imapShape(mode: RunMode) {
  const ports = mode === 'local' ? localPorts : servicePorts;
  return {
    IMAP_PORT: port.default(ports.IMAP_PORT),
    ...workerHealthShape(),
    IMAPS_PORT: port.default(ports.IMAPS_PORT),
    ...tlsShape(),
    /** LOGIN/AUTHENTICATE before STARTTLS on IMAP_PORT (off: `NO [PRIVACYREQUIRED]`). */
    IMAP_ALLOW_PLAINTEXT_AUTH: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    IMAP_MAX_CONNECTIONS_PER_IP: positiveInt.default(50),
    IMAP_MAX_CONNECTIONS_PER_USER: positiveInt.default(20),
    /** IMAP server processes sharing IMAP_PORT and IMAPS_PORT (node:cluster, imap-server/src/cluster.ts); the connection caps hold across them. */
    IMAP_PROCESSES: positiveInt.max(64).default(1),
    /** The largest APPEND literal. */
    IMAP_MAX_MESSAGE_SIZE: positiveInt.default(50 * 1024 * 1024),
    /** RFC 3501: an idle client (IDLE included) is logged out after at least 30 minutes. */
    IMAP_IDLE_TIMEOUT: duration('30m'),
  };
}

/**
 * SMTP_PROCESSES' default: one below 4 cores, else two. On 2 cores a second SMTP process costs more
 * CPU per message than it adds (it competes with the worker and PostgreSQL; bench/README.md, session 8).
 */
export function defaultSmtpProcesses(cores: number): number {
  return cores >= 4 ? 2 : 1;
}

function stackShape() {
  return {
    /** SMTP listener processes under `npm start`, sharing its ports (node:cluster); default `defaultSmtpProcesses`. Per-IP limits are divided among them. */
    SMTP_PROCESSES: positiveInt.max(64).default(defaultSmtpProcesses(os.availableParallelism())),
  };
}

export const schemas = {
  base: (mode: RunMode) => z.object(baseShape(mode)),
  smtp: (mode: RunMode) => z.object({ ...baseShape(mode), ...smtpShape(mode) }),
  inbound: (mode: RunMode) => z.object({ ...baseShape(mode), ...workerShape() }),
  outbound: (mode: RunMode) => z.object({ ...baseShape(mode), ...outboundShape() }),
  http: (mode: RunMode) => z.object({ ...baseShape(mode), ...httpShape(mode) }),
  imap: (mode: RunMode) => z.object({ ...baseShape(mode), ...imapShape(mode) }),
  /** `npm start`: every service, each in its own child process. */
  stack: (mode: RunMode) =>
    z.object({ ...baseShape(mode), ...smtpShape(mode), ...workerShape(), ...outboundShape(), ...httpShape(mode), ...imapShape(mode), ...stackShape() }),
};

export type BaseConfig = z.infer<ReturnType<typeof schemas.base>>;
export type SmtpConfig = z.infer<ReturnType<typeof schemas.smtp>>;
export type InboundConfig = z.infer<ReturnType<typeof schemas.inbound>>;
export type OutboundConfig = z.infer<ReturnType<typeof schemas.outbound>>;
export type HttpConfig = z.infer<ReturnType<typeof schemas.http>>;
export type ImapConfig = z.infer<ReturnType<typeof schemas.imap>>;
export type StackConfig = z.infer<ReturnType<typeof schemas.stack>>;

/** Parse `env` with the given schema; throws ConfigError naming every bad key. */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
  throw new ConfigError(problems);
}

/**
 * A service process (one per container) needs the real endpoints; the local stack provides them
 * itself. Redis is REDIS_URL, or the sentinels (`redisUrl` is then the target `createRedis` reads).
 */
export function requireServiceEndpoints(config: BaseConfig): { databaseUrl: string; redisUrl: string } {
  const problems: string[] = [];
  if (!config.DATABASE_URL) problems.push('DATABASE_URL: required when a service runs on its own (or use `npm start`, which runs a private PostgreSQL)');
  const redisProblems = redisSettingProblems(config);
  problems.push(...redisProblems);
  if (redisProblems.length === 0 && !config.REDIS_URL && config.REDIS_SENTINELS.length === 0) problems.push('REDIS_URL: required when a service runs on its own (or REDIS_SENTINELS; or use `npm start`, which runs a private Redis)');
  if (problems.length > 0) throw new ConfigError(problems);
  return { databaseUrl: config.DATABASE_URL as string, redisUrl: configuredRedisTarget(config) as string };
}

/**
 * The Redis the configuration names, as the target `createRedis` reads: REDIS_URL, or the
 * sentinels' (REDIS_SENTINELS, REDIS_SENTINEL_NAME, REDIS_PASSWORD); undefined when neither is set.
 * The services, `npm start` and the CLI all connect through it. Throws ConfigError on a contradiction.
 */
export function configuredRedisTarget(config: BaseConfig): string | undefined {
  const problems = redisSettingProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  if (config.REDIS_SENTINELS.length > 0) return sentinelTarget({ sentinels: config.REDIS_SENTINELS, name: config.REDIS_SENTINEL_NAME, password: config.REDIS_PASSWORD });
  return config.REDIS_URL;
}

function redisSettingProblems(config: BaseConfig): string[] {
  const sentinels = config.REDIS_SENTINELS.length > 0;
  if (sentinels && config.REDIS_URL) return ['REDIS_URL: set either REDIS_URL or REDIS_SENTINELS, not both'];
  if (!sentinels && config.REDIS_PASSWORD) return ['REDIS_PASSWORD: only read with REDIS_SENTINELS (put the password in REDIS_URL: redis://:password@host:6379)'];
  return [];
}
