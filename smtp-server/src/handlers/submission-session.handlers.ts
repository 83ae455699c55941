import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import { AppError, isMailLoop, MAX_RECEIVED_FIELDS, SenderNotAllowedError, SendRateLimitedError, type Logger, type SubmissionServices } from '@mailyard/core';
import { collectData } from '../protocol/data-stream.js';
import { ConnectionCounter } from '../protocol/limits.js';
import { acceptedText, replies, submissionReplies, type SmtpReplyError } from '../protocol/replies.js';

export interface SubmissionLimits {
  maxMessageSize: number;
  /** RCPTs per transaction; core refuses more than MAX_RECIPIENTS_PER_MESSAGE anyway. */
  maxRecipients: number;
  maxConnectionsPerIp: number;
}

export interface SubmissionHandlerDeps {
  /** Sign-in, sender and recipient checks, and the send path: core's on the real store, fakes in transcript tests. */
  services: SubmissionServices;
  log: Logger;
  hostname: string;
  limits: SubmissionLimits;
  isShuttingDown(): boolean;
}

/** What a successful AUTH leaves on `session.user`. */
export interface SubmissionUser {
  userId: number;
  address: string;
}

type Callback = (err?: Error | null) => void;

export type SubmissionCallbacks = Pick<SMTPServerOptions, 'onConnect' | 'onClose' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData'>;

export interface SubmissionHandlers {
  callbacks: SubmissionCallbacks;
  /** Resolves once every submission already handed to core has finished (stop the store after this). */
  drain(): Promise<void>;
}

function userOf(session: SMTPServerSession): SubmissionUser | undefined {
  return session.user as SubmissionUser | undefined;
}

/**
 * The trace field RFC 5321 §4.4 asks of every SMTP server that accepts a message. `with
 * ESMTPSA` (RFC 3848): TLS and AUTH. The client's IP address is left out on purpose: on
 * submission it is the user's own (home, phone) address, and every recipient would see it.
 */
function receivedHeader(session: SMTPServerSession, hostname: string): string {
  const helo = (session.hostNameAppearsAs || 'unknown').replace(/[^\x21-\x7e]/g, '');
  const proto = session.secure ? 'ESMTPSA' : 'ESMTPA';
  return `Received: from ${helo}\r\n\tby ${hostname} (Mailyard) with ${proto} id ${session.id};\r\n\t${new Date().toUTCString().replace('GMT', '+0000')}\r\n`;
}

/** Maps what `submit` threw to a reply: a real refusal is 5xx, anything else 4xx. */
function replyForSubmitError(err: unknown): SmtpReplyError {
  if (err instanceof SenderNotAllowedError) return submissionReplies.refused(553, '5.7.1', err.message);
  if (err instanceof SendRateLimitedError) return submissionReplies.sendRateLimited(err.message);
  if (err instanceof AppError && err.status < 500) {
    switch (err.code) {
      case 'send.from_missing':
        return submissionReplies.refused(550, '5.6.0', err.message);
      case 'send.header_repeated':
        return submissionReplies.refused(553, '5.7.1', err.message);
      case 'send.unknown_recipient':
        return submissionReplies.refused(550, '5.1.1', err.message);
      case 'send.invalid_address':
        return submissionReplies.refused(553, '5.1.3', err.message);
      case 'send.too_many_recipients':
        return submissionReplies.refused(452, '4.5.3', err.message);
      case 'quota.exceeded':
        return submissionReplies.refused(552, '5.2.2', err.message);
      default:
        return submissionReplies.refused(550, '5.7.0', err.message);
    }
  }
  return submissionReplies.temporaryFailure();
}

/**
 * The smtp-server callbacks for the submission listeners (587 with STARTTLS, 465 with implicit
 * TLS): AUTH PLAIN/LOGIN checked by core's `authenticateClient` (limits and audit included), then
 * mail from the user's own addresses to anyone, handed to core's send path. Fail closed: a store
 * or Redis failure is a 4xx, never an accept.
 */
export function createSubmissionHandlers(deps: SubmissionHandlerDeps): SubmissionHandlers {
  const { limits, services } = deps;
  const connections = new ConnectionCounter(limits.maxConnectionsPerIp);
  const sessions = new Map<string, Logger>();
  const inFlight = new Set<Promise<unknown>>();
  // Never adds an entry: a callback that completes after onClose must not leave one behind.
  const logFor = (session: SMTPServerSession): Logger => sessions.get(session.id) ?? deps.log.child({ session: session.id, ip: session.remoteAddress });

  async function authenticate(auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<SMTPServerAuthenticationResponse | SmtpReplyError> {
    const log = logFor(session);
    // RFC 4616: acting as someone else (an authzid other than the authcid) is not offered.
    if (auth.method === 'PLAIN' && auth.authzid && auth.authcid && auth.authzid.trim().toLowerCase() !== auth.authcid.trim().toLowerCase()) {
      log.info({ event: 'smtp.auth.authzid_refused' });
      return submissionReplies.authInvalid();
    }
    // The typed name stays out of the log: it may be a password typed into the wrong field.
    const result = await services.auth.authenticate({ username: auth.username ?? '', password: auth.password ?? '', ip: session.remoteAddress, details: { method: auth.method } });
    switch (result.kind) {
      case 'limited':
        log.warn({ event: 'smtp.auth.limited', by: result.by, method: auth.method });
        return submissionReplies.authLimited();
      case 'invalid':
        log.info({ event: 'smtp.auth.failed', method: auth.method });
        return submissionReplies.authInvalid();
      case 'ok': {
        log.info({ event: 'smtp.auth.ok', user: result.user.address, method: auth.method });
        const sessionUser: SubmissionUser = { userId: result.user.userId, address: result.user.address };
        return { user: sessionUser };
      }
    }
  }

  const callbacks: SubmissionCallbacks = {
    onConnect(session: SMTPServerSession, callback: Callback) {
      if (deps.isShuttingDown()) return callback(replies.shuttingDown());
      if (!connections.tryAcquire(session.remoteAddress)) {
        deps.log.warn({ event: 'smtp.connection.limited', ip: session.remoteAddress, listener: 'submission' });
        return callback(replies.tooManyConnections(limits.maxConnectionsPerIp));
      }
      sessions.set(session.id, deps.log.child({ session: session.id, ip: session.remoteAddress }));
      callback();
    },

    onClose(session: SMTPServerSession) {
      if (sessions.delete(session.id)) connections.release(session.remoteAddress);
    },

    onAuth(auth, session, callback) {
      if (!session.secure) return callback(submissionReplies.authUnavailable());
      authenticate(auth, session).then(
        (result) => (result instanceof Error ? callback(result) : callback(null, result)),
        (err: Error) => {
          logFor(session).error({ event: 'smtp.auth.check_failed', err: err.message });
          callback(submissionReplies.authUnavailable());
        },
      );
    },

    onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: Callback) {
      const user = userOf(session);
      if (!user) return callback(submissionReplies.authRequired());
      if (!address.address) return callback(submissionReplies.nullSender());
      services.senders.mayUse(user.userId, address.address).then(
        (allowed) => {
          if (allowed) return callback();
          logFor(session).info({ event: 'smtp.mail.sender_refused', user: user.address, mailFrom: address.address });
          callback(submissionReplies.senderNotOwned(address.address, user.address));
        },
        (err: Error) => {
          logFor(session).error({ event: 'smtp.mail.check_failed', err: err.message });
          callback(submissionReplies.temporaryFailure());
        },
      );
    },

    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: Callback) {
      if (!userOf(session)) return callback(submissionReplies.authRequired());
      if (session.envelope.rcptTo.length >= limits.maxRecipients) return callback(submissionReplies.tooManyRecipients(limits.maxRecipients));
      // Authenticated relay: any address, except a local one nobody receives.
      services.recipients.resolve(address.address).then(
        (verdict) => {
          if (verdict.kind === 'local' || verdict.kind === 'relay') return callback();
          logFor(session).info({ event: 'smtp.rcpt.rejected', rcpt: address.address, reason: verdict.kind });
          callback(verdict.kind === 'unknown' ? replies.unknownUser(address.address) : replies.badRecipient(address.address));
        },
        (err: Error) => {
          logFor(session).error({ event: 'smtp.rcpt.check_failed', rcpt: address.address, err: err.message });
          callback(submissionReplies.temporaryFailure());
        },
      );
    },

    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: Callback) {
      const log = logFor(session);
      const user = userOf(session);
      const work = collectData(stream, limits.maxMessageSize).then(async (body) => {
        if (stream.sizeExceeded) return callback(replies.messageTooBig(limits.maxMessageSize));
        if (!user) return callback(submissionReplies.authRequired());
        // Counted on what the client sent, before our own Received field is added.
        if (isMailLoop(body)) {
          log.info({ event: 'smtp.submission.loop_refused', user: user.address });
          return callback(replies.mailLoop(MAX_RECEIVED_FIELDS));
        }
        const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        const rcptTo = session.envelope.rcptTo.map((r) => r.address);
        const raw = Buffer.concat([Buffer.from(receivedHeader(session, deps.hostname)), body]);
        try {
          // Resolves only once the Sent copy and the delivery record are committed.
          const result = await services.submit({ userId: user.userId, address: user.address }, { mailFrom, rcptTo }, raw);
          log.info({ event: 'smtp.submission.accepted', user: user.address, outboundId: result.outboundId, size: raw.length, rcpts: rcptTo.length });
          // smtp-server sends `250 <message>` when the callback gets a string as second argument.
          (callback as (err: null, message: string) => void)(null, acceptedText(String(result.outboundId)));
        } catch (err) {
          const reply = replyForSubmitError(err);
          if (reply.responseCode === 451) log.error({ event: 'smtp.submission.failed', user: user.address, err: (err as Error).message });
          else log.info({ event: 'smtp.submission.refused', user: user.address, reply: `${reply.responseCode} ${reply.message}` });
          callback(reply);
        }
      });
      const tracked = work.catch((err: Error) => {
        log.warn({ event: 'smtp.data.stream_failed', err: err.message });
        callback(submissionReplies.temporaryFailure());
      });
      inFlight.add(tracked);
      void tracked.finally(() => inFlight.delete(tracked));
    },
  };

  return {
    callbacks,
    async drain() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
