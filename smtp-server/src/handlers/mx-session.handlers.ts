import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import { isMailLoop, MAX_RECEIVED_FIELDS, spoolVerdictOf, type FilterCheckJson, type Logger, type MxServices, type TrustVerdict } from '@mailyard/core';
import { checkRecipientExists, type RcptVerdict } from '../checks/rcpt-exists.check.js';
import { RecipientCache } from '../checks/recipient-cache.js';
import type { DataCommandCheck } from '../protocol/data-admission.js';
import { receiveData, type ReceivedMessage } from '../protocol/data-stream.js';
import { ConnectionCounter, RateWindow, Semaphore } from '../protocol/limits.js';
import { acceptedText, replies, type SmtpReplyError } from '../protocol/replies.js';

export interface MxLimits {
  maxMessageSize: number;
  maxRecipients: number;
  maxMessagesPerConnection: number;
  maxConnectionsPerIp: number;
  maxMessagesPerIpPerMinute: number;
  /** Connections at once on the listener, from all addresses (SMTP_MAX_CLIENTS): over it, 421 4.7.0. No limit when absent. */
  maxClients?: number;
  /** Transactions in DATA at once from one address (SMTP_MAX_DATA_PER_IP): over it, DATA gets 451 4.7.1. No limit when absent. */
  maxDataPerIp?: number;
  /** A message larger than this is received into a temp file instead of RAM (default 256 KiB). */
  spillThresholdBytes?: number;
  /**
   * Large (spilled) messages whose bytes are loaded at once for the checks and the spool insert
   * (default 4); the others wait their turn. With the threshold this bounds the RAM DATA uses,
   * whatever the number of connections.
   */
  maxLargeMessagesLoaded?: number;
}

export interface MxHandlerDeps {
  /** Recipient lookup and the spool: core's on the real store, fakes in transcript tests. */
  services: MxServices;
  log: Logger;
  hostname: string;
  limits: MxLimits;
  /** The private folder of DATA temp files (`prepareSpillFolder`). */
  spillDir: string;
  isShuttingDown(): boolean;
}

type Callback = (err?: Error | null) => void;

/** How a transaction ends: a refusal, or the text of the 250. */
type DataOutcome = SmtpReplyError | { accepted: string };

/** Per-session state we keep beside the library's session object (a class: one shape for every session). */
class SessionState {
  messages = 0;
  /** DNSBL and reverse DNS of the client, started at the first MAIL (never rejects); absent for trusted clients. */
  connectionChecks?: Promise<FilterCheckJson[]>;
  private child: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly session: SMTPServerSession,
  ) {}

  /** A child logger with the session's id and IP, made on first use (most sessions log nothing). */
  get log(): Logger {
    this.child ??= this.parent.child({ session: this.session.id, ip: this.session.remoteAddress });
    return this.child;
  }
}

function receivedHeader(session: SMTPServerSession, hostname: string, rcpts: string[]): string {
  const helo = (session.hostNameAppearsAs || 'unknown').replace(/[^\x21-\x7e]/g, '');
  const proto = session.secure ? 'ESMTPS' : 'ESMTP';
  const forClause = rcpts.length === 1 ? `\r\n\tfor <${rcpts[0]}>` : '';
  return `Received: from ${helo} ([${session.remoteAddress}])\r\n\tby ${hostname} (Mailyard) with ${proto}${forClause};\r\n\t${new Date().toUTCString().replace('GMT', '+0000')}\r\n`;
}

/**
 * The smtp-server callbacks for the MX listener (port 25): accept mail for local users only.
 * `onDataCommand` is read by protocol/data-admission.ts.
 */
export function createMxHandlers(deps: MxHandlerDeps): Pick<SMTPServerOptions, 'onConnect' | 'onClose' | 'onMailFrom' | 'onRcptTo' | 'onData'> & { onDataCommand: DataCommandCheck } {
  const { limits } = deps;
  const connections = new ConnectionCounter(limits.maxConnectionsPerIp);
  const maxDataPerIp = limits.maxDataPerIp ?? Number.POSITIVE_INFINITY;
  const inData = new ConnectionCounter(maxDataPerIp);
  const largeMessages = new Semaphore(limits.maxLargeMessagesLoaded ?? 4);
  const spillAt = limits.spillThresholdBytes ?? 256 * 1024;
  const rate = new RateWindow(limits.maxMessagesPerIpPerMinute);
  const sessions = new Map<string, SessionState>();
  const recipients = new RecipientCache({ acceptTtlMs: 10_000, rejectTtlMs: 2_000, maxEntries: 10_000 });
  const lookup = async (rcpt: string): Promise<RcptVerdict> => {
    const cached = recipients.get(rcpt);
    if (cached) return cached;
    const verdict = await checkRecipientExists(deps.services.recipients, rcpt);
    recipients.set(rcpt, verdict);
    return verdict;
  };

  /** Why RCPT is refused (no such user, quota, greylisted), or null to accept. Throws when the store cannot be read. */
  const rcptRefusal = async (rcpt: string, session: SMTPServerSession): Promise<SmtpReplyError | null> => {
    const verdict = await lookup(rcpt);
    if (!verdict.accept) return verdict.reply;
    const greylist = deps.services.greylist;
    if (!greylist || deps.services.trust.isTrustedNetwork(session.remoteAddress)) return null;
    const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const decision = await greylist.check({ ip: session.remoteAddress, mailFrom, rcpt, userId: verdict.userId });
    return decision.pass ? null : replies.greylisted(decision.retryInSeconds);
  };

  return {
    onConnect(session: SMTPServerSession, callback: Callback) {
      if (deps.isShuttingDown()) return callback(replies.shuttingDown());
      if (!connections.tryAcquire(session.remoteAddress)) {
        deps.log.warn({ event: 'smtp.connection.limited', ip: session.remoteAddress });
        return callback(replies.tooManyConnections(limits.maxConnectionsPerIp));
      }
      sessions.set(session.id, new SessionState(deps.log, session));
      callback();
    },

    onClose(session: SMTPServerSession) {
      if (sessions.delete(session.id)) connections.release(session.remoteAddress);
    },

    onMailFrom(_address: SMTPServerAddress, session: SMTPServerSession, callback: Callback) {
      const state = sessions.get(session.id);
      if (state && state.messages >= limits.maxMessagesPerConnection) return callback(replies.tooManyMessages(limits.maxMessagesPerConnection));
      if (!rate.tryHit(session.remoteAddress)) {
        state?.log.warn({ event: 'smtp.mail.rate_limited' });
        return callback(replies.rateLimited(limits.maxMessagesPerIpPerMinute));
      }
      const checks = deps.services.connectionChecks;
      if (state && checks && !state.connectionChecks && !deps.services.trust.isTrustedNetwork(session.remoteAddress)) {
        state.connectionChecks = checks.check({ ip: session.remoteAddress, helo: session.hostNameAppearsAs || null }).catch(() => []);
      }
      callback();
    },

    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: Callback) {
      if (session.envelope.rcptTo.length >= limits.maxRecipients) return callback(replies.tooManyRecipients(limits.maxRecipients));
      rcptRefusal(address.address, session).then(
        (refusal) => {
          if (!refusal) return callback();
          sessions.get(session.id)?.log.info({ event: 'smtp.rcpt.rejected', rcpt: address.address, reason: refusal.message });
          callback(refusal);
        },
        (err: Error) => {
          deps.log.error({ event: 'smtp.rcpt.check_failed', rcpt: address.address, err: err.message });
          callback(replies.storeUnavailable());
        },
      );
    },

    onDataCommand(session: SMTPServerSession) {
      if (!inData.isFull(session.remoteAddress)) return null;
      sessions.get(session.id)?.log.warn({ event: 'smtp.data.limited' });
      return replies.tooManyInData(maxDataPerIp);
    },

    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: Callback) {
      const ip = session.remoteAddress;
      // onDataCommand refused DATA when the address was full; this counts the transaction.
      if (!inData.tryAcquire(ip)) return callback(replies.tooManyInData(maxDataPerIp));
      const state = sessions.get(session.id);
      void receiveData(stream, { max: limits.maxMessageSize, spillAt, dir: deps.spillDir })
        .then(async (message): Promise<DataOutcome> => {
          try {
            if (stream.sizeExceeded) return replies.messageTooBig(limits.maxMessageSize);
            // A large message's bytes are loaded only when its turn comes: RAM is bounded by the semaphore.
            return message.spilled ? await largeMessages.run(() => finishTransaction(message)) : await finishTransaction(message);
          } finally {
            await message.discard();
          }
        })
        .catch((err: Error): DataOutcome => {
          state?.log.warn({ event: 'smtp.data.stream_failed', err: err.message });
          return replies.storeUnavailable();
        })
        .then((outcome) => {
          inData.release(ip);
          if (outcome instanceof Error) return callback(outcome);
          // smtp-server sends `250 <message>` when the callback gets a string as second argument.
          (callback as (err: null, message: string) => void)(null, outcome.accepted);
        });

      /** clamd's verdict (when configured): a refusal for a virus, or for no answer with CLAMD_FAIL=tempfail; null to go on. */
      async function scanForViruses(raw: Buffer): Promise<SmtpReplyError | null> {
        const scanner = deps.services.virusScan;
        if (!scanner) return null;
        const result = await scanner.scan(raw);
        if (result.status === 'infected') {
          (state?.log ?? deps.log).warn({ event: 'smtp.data.virus_refused', virus: result.name, mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '' });
          return replies.virusFound(result.name);
        }
        if (result.status === 'unscanned') (state?.log ?? deps.log).info({ event: 'smtp.data.virus_unscanned', reason: result.message });
        if (result.status === 'error') {
          deps.log.error({ event: 'smtp.data.virus_scan_failed', err: result.message, onError: scanner.onError });
          return scanner.onError === 'tempfail' ? replies.virusScanUnavailable() : null;
        }
        return null;
      }

      /** The checks and the spool write of a complete message; 250 only after the commit. */
      async function finishTransaction(message: ReceivedMessage): Promise<DataOutcome> {
        const raw = await message.bytes();
        if (isMailLoop(raw)) {
          state?.log.info({ event: 'smtp.data.loop_refused' });
          return replies.mailLoop(MAX_RECEIVED_FIELDS);
        }
        const virus = await scanForViruses(raw);
        if (virus) return virus;
        const rcpts = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const helo = session.hostNameAppearsAs || null;
        let trust: TrustVerdict;
        try {
          const rcptDomains = [...new Set(rcpts.map((r) => r.slice(r.lastIndexOf('@') + 1)))];
          trust = await deps.services.trust.verify({ raw, ip, helo, mailFrom, rcptDomains, rcptTo: rcpts, connectionChecks: await state?.connectionChecks });
        } catch (err) {
          deps.log.error({ event: 'smtp.data.trust_failed', err: (err as Error).message });
          return replies.storeUnavailable();
        }
        if (trust.refusal === 'spam') {
          state?.log.info({ event: 'smtp.data.spam_refused', mailFrom, score: trust.filter.score, reason: trust.reason, checks: trust.filter.checks });
          return replies.spamRefused(trust.filter.score);
        }
        if (trust.action === 'reject') {
          state?.log.info({ event: 'smtp.data.auth_refused', mailFrom, reason: trust.reason, authentication: trust.authentication });
          return replies.authenticationRefused(trust.reason ?? 'authentication failed');
        }
        try {
          const spoolId = await deps.services.spool.write({
            raw,
            mailFrom,
            rcptTo: rcpts,
            remoteIp: ip,
            helo,
            tls: Boolean(session.secure),
            // Authentication-Results goes above our Received: it is the newest trace field.
            traceHeaders: trust.header + receivedHeader(session, deps.hostname, rcpts),
            authentication: trust.authentication,
            filter: trust.filter,
            verdict: spoolVerdictOf(trust.action),
          });
          if (state) state.messages += 1;
          // Not awaited: the 250 never waits on Redis (it never throws; a failure is logged by the greylist's onUnavailable).
          if (trust.authentication.dmarc.result === 'pass') void deps.services.greylist?.rememberGoodSender(ip, mailFrom);
          if (state && deps.log.isLevelEnabled('info')) state.log.info({ event: 'smtp.data.accepted', spoolId, size: raw.length, spilled: message.spilled, rcpts: rcpts.length, verdict: trust.action, score: trust.filter.score, reason: trust.reason });
          return { accepted: acceptedText(`S${spoolId}`) };
        } catch {
          return replies.storeUnavailable();
        }
      }
    },
  };
}
