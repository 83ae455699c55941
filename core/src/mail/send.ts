import { randomBytes } from 'node:crypto';
import { mayUseSenderAddress, resolveRecipient } from './recipient-routing.js';
import type { Db } from '../db/client.js';
import type { RateLimiter } from '../auth/rate-limit.js';
import { SENT_MESSAGES_PER_USER, SENT_RECIPIENTS_PER_USER, type RateLimitRule } from '../auth/rate-limit.js';
import { AppError } from '../errors.js';
import type { OutboundJob } from '../queue/queues.js';
import { createContactRepository } from '../repositories/contact.repository.js';
import { createMessageRepository } from '../repositories/message.repository.js';
import { composeMime, parseRecipient, requireDraft, type DraftDeps, type DraftInput, type DraftSender } from './drafts.js';
import { openMailboxWrite, publishMailboxEvents, type MailboxWriterDeps } from './mailbox-writer/index.js';
import type { Tx } from '../db/client.js';
import { summarizeMessage, type MessageSummary } from './parse.js';
import { assertRoom } from './quota.js';
import { domainOf, parseAddress } from './address.js';
import { createOutboundRepository } from '../repositories/outbound.repository.js';
import { headerFields, rewriteHeader, splitMessage } from './raw-headers.js';

/**
 * Sending a message a user wrote (the Outbound flow in DESIGN.md), from the API (`sendMessage`:
 * we build the MIME) or a mail client on the submission port (`submitRawMessage`: the client
 * built it). Both end in `dispatch`: file a copy into the sender's \Sent (\Seen), file one copy
 * into the INBOX of each local recipient user, record the message and its recipients for the
 * outbound worker (migration 0008) and enqueue one `outbound` job per remote domain, record the
 * recipients as contacts. Mail that leaves never carries a Bcc header. API mail is first held
 * (undo send, scheduled send: mail/scheduled-send.ts), checked and built by `prepareSend` here,
 * and dispatched through the same `dispatch` when its time comes. A sender at or over their quota
 * cannot send (413 'quota.exceeded': the \Sent copy would not fit; see mail/quota.ts); what was
 * accepted for sending is dispatched whatever the quota says by then.
 */

/** Distinct recipients (To + Cc + Bcc) one message may have (429 'send.too_many_recipients' beyond). */
export const MAX_RECIPIENTS_PER_MESSAGE = 100;

export interface SendInput extends DraftInput {
  to: string[];
  /** The draft this message was written in: deleted once the message is filed. */
  draftId?: number;
}

/** What `dispatch` needs: the store, events, and the `outbound` queue. */
export interface DispatchDeps extends MailboxWriterDeps {
  outbound: { enqueue(jobs: OutboundJob[]): Promise<void> };
}

export interface SendDeps extends DraftDeps, DispatchDeps {
  limiter: RateLimiter;
}

export interface SendResult {
  /** The sender's \Sent copy. */
  messageId: number;
  /** The delivery record (GET /api/outbound lists its state per recipient). */
  outboundId: number;
  /** Remote recipients waiting in the `outbound` queue, per domain. */
  queued: Array<{ domain: string; recipients: string[] }>;
  /** Recipients filed directly into a local mailbox. */
  deliveredLocally: string[];
}

/** 429 'send.rate_limited'; the route answers Retry-After from `retryAfterSeconds`. */
export class SendRateLimitedError extends AppError {
  constructor(
    public readonly retryAfterSeconds: number,
    rule: RateLimitRule = SENT_MESSAGES_PER_USER,
  ) {
    const what = rule === SENT_RECIPIENTS_PER_USER ? `send to at most ${rule.max} recipients` : `send at most ${rule.max} messages`;
    super('send.rate_limited', `you may ${what} per hour; try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s)`, 429);
  }
}

/** Where each recipient goes: a local user (one copy per user) or a remote domain. */
export interface Routing {
  localUsers: Map<number, string[]>;
  remote: string[];
}

/** Routes each address (400 for an unknown local mailbox or, with `code`, an invalid address). */
export async function routeRecipients(db: Db, addresses: string[], code: string): Promise<Routing> {
  const localUsers = new Map<number, string[]>();
  const remote: string[] = [];
  for (const address of addresses) {
    const verdict = await resolveRecipient(db, address);
    if (verdict.kind === 'local') localUsers.set(verdict.userId, [...(localUsers.get(verdict.userId) ?? []), address]);
    else if (verdict.kind === 'relay') remote.push(verdict.address);
    else if (verdict.kind === 'unknown') throw new AppError('send.unknown_recipient', `${JSON.stringify(address)}: no such mailbox on this server`, 400);
    else throw new AppError(code, `${JSON.stringify(address)} is not a valid mail address`, 400);
  }
  return { localUsers, remote };
}

function checkRecipientCount(count: number): void {
  if (count === 0) throw new AppError('send.no_recipients', 'add at least one recipient (to, cc or bcc)', 400);
  if (count > MAX_RECIPIENTS_PER_MESSAGE) {
    throw new AppError('send.too_many_recipients', `a message may have at most ${MAX_RECIPIENTS_PER_MESSAGE} recipients (this one has ${count}); send it in parts`, 429);
  }
}

/** The hourly limits count messages that would really be sent, and their recipients. */
async function countAgainstRateLimit(deps: SendDeps, userId: number, recipients: number): Promise<void> {
  const messages = await deps.limiter.hit(SENT_MESSAGES_PER_USER, String(userId));
  if (messages.limited) throw new SendRateLimitedError(messages.retryAfterSeconds);
  const people = await deps.limiter.hit(SENT_RECIPIENTS_PER_USER, String(userId), recipients);
  if (people.limited) throw new SendRateLimitedError(people.retryAfterSeconds, SENT_RECIPIENTS_PER_USER);
}

export interface Dispatch {
  sender: DraftSender;
  raw: Buffer;
  summary: MessageSummary;
  mailFrom: string;
  routing: Routing;
  /** The From header's domain: the DKIM signing domain (d=) that aligns with it. */
  dkimDomain: string | null;
}

/** Suggestions only: once the message is filed and queued, a failure here must not fail the send. */
export async function recordContacts(deps: MailboxWriterDeps, userId: number, people: Array<{ name: string; address: string }>): Promise<void> {
  try {
    await createContactRepository(deps.db).recordSent(userId, people);
  } catch (err) {
    deps.log?.warn({ event: 'send.contacts_failed', userId, err: (err as Error).message });
  }
}

/**
 * A held message's claim on being sent, run first in `dispatch`'s transaction: `claim` locks its
 * row and says whether it may go; `done` marks it sent in the same transaction.
 */
export interface DispatchGuard {
  claim(tx: Tx): Promise<boolean>;
  done(tx: Tx, sent: { messageId: number; outboundId: number }): Promise<void>;
}

/**
 * Files and records a message in ONE transaction: the sender's \Sent copy, a copy in each local
 * recipient's INBOX, the outbound record, and (sending a draft) the draft's removal. A crash at
 * any point leaves all of it or none. The users involved are locked in id order (the mailbox
 * writer's rule), so two people sending to each other at once cannot deadlock. Only after the
 * commit: the events, and one `outbound` job per remote domain. With a `guard`, nothing happens
 * (null) unless it claims the message.
 */
export async function dispatch(deps: DispatchDeps, d: Dispatch, draftId?: number, guard?: DispatchGuard): Promise<SendResult | null> {
  const { raw, summary, sender } = d;
  const localUsers = [...d.routing.localUsers.entries()];
  const deliveredLocally = localUsers.flatMap(([, addresses]) => addresses);
  const committed = await deps.db.transaction().execute(async (tx) => {
    if (guard && !(await guard.claim(tx))) return null;
    const write = await openMailboxWrite(tx, [sender.userId, ...localUsers.map(([userId]) => userId)]);
    // The Sent copy and every local recipient's copy in one batch: a fixed number of statements however many recipients.
    const filed = await write.appendMany([
      { userId: sender.userId, inputs: [{ mailbox: { specialUse: '\\Sent' }, content: { raw }, summary, flags: ['\\Seen'] }] },
      ...localUsers.map(([userId]) => ({ userId, inputs: [{ mailbox: { specialUse: '\\Inbox' as const }, content: { raw }, summary }] })),
    ]);
    const sent = filed[0]![0]!;
    if (draftId !== undefined && (await createMessageRepository(tx).get(sender.userId, draftId))) {
      // Deleted meanwhile (another tab, an IMAP client): the message is sent either way.
      await write.remove(sender.userId, [draftId]);
    }
    const recorded = await createOutboundRepository(tx).record({
      userId: sender.userId,
      sentMessageId: sent.messageId,
      raw,
      mailFrom: d.mailFrom,
      messageIdHeader: summary.messageId,
      subject: summary.subject,
      dkimDomain: d.dkimDomain,
      recipients: [
        ...deliveredLocally.map((address) => ({ address, domain: domainOf(address), local: true })),
        ...d.routing.remote.map((address) => ({ address, domain: domainOf(address), local: false })),
      ],
    });
    await write.finish();
    await guard?.done(tx, { messageId: sent.messageId, outboundId: recorded.outboundId });
    return { recorded, sentId: sent.messageId, events: write.events() };
  });
  if (!committed) return null;
  const { recorded, sentId, events } = committed;
  await publishMailboxEvents(deps, events);
  // If Redis is away the message is still recorded: the queue adds the jobs again itself once Redis
  // answers (createOutboundQueue with a log), and the outbound worker's reconciler finds it anyway.
  try {
    await deps.outbound.enqueue(recorded.remoteDomains.map((domain) => ({ outboundId: recorded.outboundId, domain, attempt: 0 })));
  } catch (err) {
    deps.log?.warn({ event: 'send.enqueue_failed', outboundId: recorded.outboundId, err: (err as Error).message });
  }
  const queued = recorded.remoteDomains.map((domain) => ({ domain, recipients: d.routing.remote.filter((r) => domainOf(r) === domain) }));
  return { messageId: sentId, outboundId: recorded.outboundId, queued, deliveredLocally };
}

/** A message checked and built by `prepareSend`, ready for `dispatch` (or to be held). */
export interface PreparedSend {
  raw: Buffer;
  /** Distinct recipient addresses (To, Cc, Bcc): routed again when it is dispatched. */
  recipients: string[];
  routing: Routing;
  mailFrom: string;
  dkimDomain: string;
  contacts: Array<{ name: string; address: string }>;
}

/**
 * Everything checked before a message is accepted: addresses, count, routing, the draft, the MIME
 * (dated `date`), and the hourly limits (counted here, when the user sends, not when it goes).
 */
export async function prepareSend(deps: SendDeps, from: DraftSender, input: SendInput, date = new Date()): Promise<PreparedSend> {
  // 1. Validation that needs no I/O: addresses (400 naming the bad one), count.
  const code = 'send.invalid_address';
  const typed = (['to', 'cc', 'bcc'] as const).flatMap((field) => (input[field] ?? []).map((r) => parseRecipient(field, r, code)));
  const unique = [...new Set(typed.map((r) => r.address))];
  checkRecipientCount(unique.length);
  const routing = await routeRecipients(deps.db, unique, code);
  if (input.draftId !== undefined) await requireDraft(deps, from.userId, input.draftId);
  await assertRoom(deps.db, from.userId);

  // 2. The MIME (404 for an upload or replied message that is not the sender's).
  const senderDomain = domainOf(from.address);
  const composed = await composeMime(deps, from, input, {
    keepBcc: false,
    messageId: `<${randomBytes(16).toString('hex')}@${senderDomain}>`,
    date,
    invalidAddressCode: code,
  });

  // 3. Its \Sent copy must fit in the quota; the rate limit counts messages that would really be sent.
  await assertRoom(deps.db, from.userId, composed.raw.length);
  await countAgainstRateLimit(deps, from.userId, unique.length);
  return { raw: composed.raw, recipients: unique, routing, mailFrom: from.address, dkimDomain: senderDomain, contacts: [...composed.to, ...composed.cc, ...composed.bcc] };
}

/** Sends at once, with no hold (tools and tests; the API holds first: mail/scheduled-send.ts). */
export async function sendMessage(deps: SendDeps, from: DraftSender, input: SendInput): Promise<SendResult> {
  const p = await prepareSend(deps, from, input);
  const result = await dispatch(deps, { sender: from, raw: p.raw, summary: await summarizeMessage(p.raw), mailFrom: p.mailFrom, routing: p.routing, dkimDomain: p.dkimDomain }, input.draftId);
  await recordContacts(deps, from.userId, p.contacts);
  return result!;
}

// Submission (SMTP AUTH on 587/465)

/** 553 5.7.1 on the submission port: the envelope sender or From is not the user's. */
export class SenderNotAllowedError extends AppError {
  constructor(what: string, address: string) {
    super('send.sender_not_allowed', `${what} <${address}> is not one of your addresses; send as your own address or one of your aliases`, 403);
  }
}

export interface SubmitEnvelope {
  mailFrom: string;
  rcptTo: string[];
}

/**
 * A message a mail client submitted (already authenticated as `sender`). The envelope sender and
 * every From (and Sender) address must be the user's own; the message gets a Message-ID and Date
 * if it has none (RFC 6409 §8), and loses its Bcc field. Then the same path as API mail.
 */
export async function submitRawMessage(deps: SendDeps, sender: DraftSender, envelope: SubmitEnvelope, input: Buffer): Promise<SendResult> {
  const code = 'send.invalid_address';
  const recipients = [...new Set(envelope.rcptTo.map((r) => parseAddress(r)?.address ?? r))];
  checkRecipientCount(recipients.length);
  if (!(await mayUseSenderAddress(deps.db, sender.userId, envelope.mailFrom))) throw new SenderNotAllowedError('the envelope sender', envelope.mailFrom);

  const fields = headerFields(splitMessage(input).header);
  // Only one From (and one Sender) is checked below and signed: a second one, which a reader may
  // be shown instead, is refused (RFC 5322 3.6 allows exactly one of each).
  for (const name of ['From', 'Sender']) {
    const count = fields.filter((f) => f.name === name.toLowerCase()).length;
    if (count > 1) throw new AppError('send.header_repeated', `the message has ${count} ${name} header fields; a message may have only one`, 400);
  }
  const summary0 = await summarizeMessage(input);
  if (!fields.some((f) => f.name === 'from') || summary0.from.length === 0) {
    throw new AppError('send.from_missing', 'the message has no From header with an address; set From to your own address', 400);
  }
  for (const f of summary0.from) {
    if (!(await mayUseSenderAddress(deps.db, sender.userId, f.address))) throw new SenderNotAllowedError('From', f.address);
  }
  const senderField = fields.find((f) => f.name === 'sender');
  if (senderField) {
    const address = /<([^<>]*)>/.exec(senderField.value)?.[1] ?? senderField.value;
    if (!(await mayUseSenderAddress(deps.db, sender.userId, address))) throw new SenderNotAllowedError('Sender', address);
  }
  const routing = await routeRecipients(deps.db, recipients, code);
  const fromDomain = domainOf(summary0.from[0]!.address);

  const prepend: string[] = [];
  if (!fields.some((f) => f.name === 'message-id')) prepend.push(`Message-ID: <${randomBytes(16).toString('hex')}@${fromDomain}>`);
  if (!fields.some((f) => f.name === 'date')) prepend.push(`Date: ${new Date().toUTCString().replace('GMT', '+0000')}`);
  const hasBcc = fields.some((f) => f.name === 'bcc');
  const raw = prepend.length > 0 || hasBcc ? rewriteHeader(input, { drop: ['bcc'], prepend }) : input;
  const summary = raw === input ? summary0 : await summarizeMessage(raw);

  await assertRoom(deps.db, sender.userId, raw.length);
  await countAgainstRateLimit(deps, sender.userId, recipients.length);
  const result = (await dispatch(deps, { sender, raw, summary, mailFrom: parseAddress(envelope.mailFrom)!.address, routing, dkimDomain: fromDomain }))!;
  await recordContacts(deps, sender.userId, [...summary.to, ...summary.cc]);
  return result;
}
