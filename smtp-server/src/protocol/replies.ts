/**
 * SMTP replies this server sends, each with its RFC 3463 enhanced status code. Handlers throw
 * these; the smtp-server library writes them. Nothing here touches the store.
 */
export interface SmtpReplyError extends Error {
  responseCode: number;
}

export function smtpReply(code: number, enhanced: string, text: string): SmtpReplyError {
  const err = new Error(`${enhanced} ${text}`) as SmtpReplyError;
  err.responseCode = code;
  return err;
}

export const replies = {
  unknownUser: (rcpt: string) => smtpReply(550, '5.1.1', `<${rcpt}>: no such user here`),
  relayDenied: (rcpt: string) => smtpReply(550, '5.7.1', `<${rcpt}>: relaying denied; this server only accepts mail for its own domains`),
  badRecipient: (rcpt: string) => smtpReply(553, '5.1.3', `<${rcpt}>: not a valid mailbox address`),
  /** RFC 3463 4.2.2: the recipient is at or over their storage quota; the sender should retry later. */
  mailboxFull: (rcpt: string) => smtpReply(452, '4.2.2', `Mailbox full: <${rcpt}> is over its storage quota; try again later`),
  tooManyRecipients: (max: number) => smtpReply(452, '4.5.3', `too many recipients (at most ${max} per message); send the rest in another transaction`),
  tooManyMessages: (max: number) => smtpReply(451, '4.7.0', `too many messages in one connection (at most ${max}); reconnect to send more`),
  tooManyConnections: (max: number) => smtpReply(421, '4.7.0', `too many connections from your address (at most ${max}); try again later`),
  tooManyClients: (max: number) => smtpReply(421, '4.7.0', `too many connections (at most ${max} in all); try again later`),
  tooManyInData: (max: number) => smtpReply(451, '4.7.1', `too many messages in transfer from your address (at most ${max} at once); try again later`),
  rateLimited: (max: number) => smtpReply(451, '4.7.1', `rate limit reached (at most ${max} messages per minute from your address); try again later`),
  messageTooBig: (max: number) => smtpReply(552, '5.3.4', `message exceeds the maximum size of ${max} bytes`),
  mailLoop: (max: number) => smtpReply(554, '5.4.6', `too many Received header fields (more than ${max}): mail loop detected, message refused`),
  /** A DMARC reject or own-domain forgery verdict (core/src/mail/inbound-auth.ts); `reason` says which. */
  authenticationRefused: (reason: string) => smtpReply(550, '5.7.1', `message refused: ${reason.replace(/[^\x20-\x7e]/g, '?')}`),
  /** A spam score at or above SPAM_REJECT_THRESHOLD (core/src/mail/spam/score.ts). */
  spamRefused: (score: number) => smtpReply(550, '5.7.1', `message refused as spam (score ${score})`),
  /** Greylisting (core/src/mail/spam/greylist.ts): an unknown client/sender/recipient triplet; a real MTA retries. */
  greylisted: (seconds: number) => smtpReply(451, '4.7.1', `Greylisted: please retry in ${seconds} seconds`),
  /** clamd found a virus (core/src/mail/spam/virus-scan.ts). */
  virusFound: (name: string) => smtpReply(554, '5.7.1', `message refused: virus ${name.replace(/[^\x20-\x7e]/g, '?')}`),
  /** clamd could not answer and CLAMD_FAIL=tempfail. */
  virusScanUnavailable: () => smtpReply(451, '4.7.0', 'virus scanner unavailable, message not accepted; please try again later'),
  storeUnavailable: () => smtpReply(451, '4.3.0', 'temporary local problem, message not accepted; please try again later'),
  shuttingDown: () => smtpReply(421, '4.3.2', 'server shutting down; try again later'),
} as const;

/** Replies of the submission listeners (587 STARTTLS, 465 implicit TLS): RFC 4954, RFC 6409. */
export const submissionReplies = {
  /** The text of the library's own 530 for MAIL/RCPT/DATA before AUTH (`authRequiredMessage`). */
  authRequiredText: '5.7.0 Authentication required',
  authRequired: () => smtpReply(530, '5.7.0', 'Authentication required'),
  authInvalid: () => smtpReply(535, '5.7.8', 'Authentication credentials invalid'),
  authLimited: () => smtpReply(454, '4.7.0', 'Too many authentication failures, try again later'),
  authUnavailable: () => smtpReply(454, '4.7.0', 'Temporary authentication failure, try again later'),
  nullSender: () => smtpReply(553, '5.7.1', 'Sender address rejected: the null sender <> is not allowed on submission'),
  senderNotOwned: (sender: string, user: string) => smtpReply(553, '5.7.1', `Sender address rejected: <${sender}> not owned by user <${user}>`),
  /** A message-level refusal from core (From not the user's, no From): `<code> <enhanced> <core's message>`. */
  refused: (code: number, enhanced: string, message: string) => smtpReply(code, enhanced, message),
  tooManyRecipients: (max: number) => smtpReply(452, '4.5.3', `Too many recipients (at most ${max} per message)`),
  sendRateLimited: (message: string) => smtpReply(450, '4.7.1', message),
  temporaryFailure: () => smtpReply(451, '4.3.0', 'Temporary failure, message not accepted; try again later'),
} as const;

export function acceptedText(queueId: string): string {
  return `2.0.0 Ok: queued as ${queueId}`;
}
