import type { Redis } from 'ioredis';
import type { Db, InlineImageLinks, Logger, RateLimiter, SecretBox, SessionService, SpamLearnDeps } from '@mailyard/core';

/** What route plugins may use. Each takes what it needs from here; nothing else is global. */
export interface BackendContext {
  db: Db;
  /** Commands (rate limits, readiness, publishing). */
  redis: Redis;
  /** Opens a dedicated connection for SUBSCRIBE (pub/sub needs its own). */
  createSubscriber(): Redis;
  log: Logger;
  sessions: SessionService;
  limiter: RateLimiter;
  /** Seals secrets stored in the database (TOTP seeds); its key is not in the database. */
  secrets: SecretBox;
  /** Signs the links of inline images too large for the rendered HTML (a key derived from the same secret key). */
  inlineImages: InlineImageLinks;
  /** DATA_DIR: uploads live under `<dataDir>/uploads`. */
  dataDir: string;
  /** DNS_SERVERS (`host` or `host:port`) for the admin DNS check; empty: the system's resolvers. */
  dnsServers: string[];
  /** MAIL_HOSTNAME: where domains' MX records must point. */
  mailHostname: string;
  /** The spam engine's learn requests (core/src/mail/spam/learn.ts); absent: nothing is learned (no RSPAMD_URL). */
  spamLearn?: SpamLearnDeps;
}
