import { randomBytes } from 'node:crypto';
import { resolveRecipient } from '../accounts/accounts.service.js';
import type { RateLimiter } from '../auth/rate-limit.js';
import { SENT_MESSAGES_PER_USER } from '../auth/rate-limit.js';
import { AppError } from '../errors.js';
import type { OutboundJob } from '../queue/queues.js';
import { createContactRepository } from '../repositories/contact.repository.js';
import { composeMime, parseRecipient, requireDraft, type DraftDeps, type DraftInput, type DraftSender } from './drafts.js';
import { ingestMessage } from './ingest.js';
import { deleteMessages } from './message-ops.js';
import { summarizeMessage } from './parse.js';

/**
 * Sending a message the user wrote (the API side of the Outbound flow in DESIGN.md). In one flow:
 * validate, build the MIME (no Bcc header), file a copy into the sender's \Sent (\Seen), file one
 * copy into the INBOX of each local recipient user (the sender included), enqueue one `outbound`
 * job per remote domain, record the recipients as contacts, and delete the draft it came from.
 */

/** Distinct recipients (To + Cc + Bcc) one message may have (400 'send.too_many_recipients' beyond). */
export const MAX_RECIPIENTS_PER_MESSAGE = 100;

export interface SendInput extends DraftInput {
  to: string[];
  /** The draft this message was written in: deleted once the message is filed. */
  draftId?: number;
}

export interface SendDeps extends DraftDeps {
  limiter: RateLimiter;
  outbound: { enqueue(jobs: OutboundJob[]): Promise<void> };
}

export interface SendResult {
  /** The sender's \Sent copy. */
  messageId: number;
  /** Remote recipients waiting in the `outbound` queue, per domain. */
  queued: Array<{ domain: string; recipients: string[] }>;
  /** Recipients filed directly into a local mailbox. */
  deliveredLocally: string[];
}

/** 429 'send.rate_limited'; the route answers Retry-After from `retryAfterSeconds`. */
export class SendRateLimitedError extends AppError {
  constructor(public readonly retryAfterSeconds: number) {
    super(
      'send.rate_limited',
      `you may send at most ${SENT_MESSAGES_PER_USER.max} messages per hour; try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s)`,
      429,
    );
  }
}

export async function sendMessage(deps: SendDeps, from: DraftSender, input: SendInput): Promise<SendResult> {
  // 1. Validation that needs no I/O: addresses (400 naming the bad one), count.
  const code = 'send.invalid_address';
  const typed = (['to', 'cc', 'bcc'] as const).flatMap((field) => (input[field] ?? []).map((r) => parseRecipient(field, r, code)));
  const unique = [...new Map(typed.map((r) => [r.address, r])).values()];
  if (unique.length === 0) throw new AppError('send.no_recipients', 'add at least one recipient (to, cc or bcc)', 400);
  if (unique.length > MAX_RECIPIENTS_PER_MESSAGE) {
    throw new AppError('send.too_many_recipients', `a message may have at most ${MAX_RECIPIENTS_PER_MESSAGE} recipients (this one has ${unique.length})`, 400);
  }

  // 2. Where each recipient goes: a local user (one copy per user) or a remote domain.
  const localUsers = new Map<number, string[]>();
  const remote = new Map<string, string[]>();
  for (const r of unique) {
    const verdict = await resolveRecipient(deps.db, r.address);
    if (verdict.kind === 'local') localUsers.set(verdict.userId, [...(localUsers.get(verdict.userId) ?? []), r.address]);
    else if (verdict.kind === 'relay') {
      const domain = r.address.slice(r.address.lastIndexOf('@') + 1);
      remote.set(domain, [...(remote.get(domain) ?? []), r.address]);
    } else if (verdict.kind === 'unknown') throw new AppError('send.unknown_recipient', `${JSON.stringify(r.address)}: no such mailbox on this server`, 400);
    else throw new AppError(code, `${JSON.stringify(r.address)} is not a valid mail address`, 400);
  }
  if (input.draftId !== undefined) await requireDraft(deps, from.userId, input.draftId);

  // 3. The MIME (404 for an upload or replied message that is not the sender's).
  const senderDomain = from.address.slice(from.address.lastIndexOf('@') + 1);
  const composed = await composeMime(deps, from, input, {
    keepBcc: false,
    messageId: `<${randomBytes(16).toString('hex')}@${senderDomain}>`,
    date: new Date(),
    invalidAddressCode: code,
  });

  // 4. The rate limit counts messages that would really be sent.
  const state = await deps.limiter.hit(SENT_MESSAGES_PER_USER, String(from.userId));
  if (state.limited) throw new SendRateLimitedError(state.retryAfterSeconds);

  // 5. File: the Sent copy first (its id names the outbound jobs), then each local user's INBOX.
  const raw = composed.raw;
  const summary = await summarizeMessage(raw);
  const sent = await ingestMessage(deps, { userId: from.userId, mailbox: { specialUse: '\\Sent' }, content: { raw }, summary, flags: ['\\Seen'] });
  const deliveredLocally: string[] = [];
  for (const [userId, addresses] of localUsers) {
    await ingestMessage(deps, { userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary });
    deliveredLocally.push(...addresses);
  }

  // 6. Remote recipients: one job per domain. Until the outbound worker lands (a later issue),
  //    these jobs wait in the `outbound` queue: nothing is delivered to remote servers yet.
  const queued = [...remote].map(([domain, recipients]) => ({ domain, recipients }));
  await deps.outbound.enqueue(queued.map((q) => ({ sentMessageId: sent.messageId, userId: from.userId, domain: q.domain, recipients: q.recipients })));

  await createContactRepository(deps.db).recordSent(from.userId, [...composed.to, ...composed.cc, ...composed.bcc]);

  if (input.draftId !== undefined) {
    try {
      await deleteMessages(deps, from.userId, [input.draftId]);
    } catch (err) {
      // Deleted meanwhile (another tab, an IMAP client): the message is sent either way.
      if (!(err instanceof AppError && err.code === 'message.not_found')) throw err;
    }
  }
  return { messageId: sent.messageId, queued, deliveredLocally };
}
