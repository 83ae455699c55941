import type { Db, Tx } from '../db/client.js';
import type { SpecialUse } from '../db/schema.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Logger } from '../log/logger.js';
import { blobHash, createBlobRepository } from '../repositories/blob.repository.js';
import { createContactRepository } from '../repositories/contact.repository.js';
import { createMailboxRepository } from '../repositories/mailbox.repository.js';
import { createMessageRepository } from '../repositories/message.repository.js';
import { addressText, type MessageSummary } from './parse.js';
import { isReplySubject } from './threading.js';
import { takeUserModseqs } from './user-lock.js';
import { AppError } from '../errors.js';

/**
 * ingest: the ONE way a message enters a mailbox. In a single transaction it locks the user row
 * (which orders everything that changes this user's mail) and takes the next modseq, takes the
 * mailbox's next UID, threads the message, inserts it, and appends to the change log. After the
 * commit it publishes the event. With a `spoolId` it is idempotent: filing the same accepted
 * message for the same user twice returns the first filing.
 *
 * `ingestForUser` files several messages of ONE user in one transaction (consecutive modseqs
 * and UIDs): the inbound worker batches a busy mailbox's mail this way, so one lock and one
 * commit cover many messages.
 */

export type MessageContent = { raw: Buffer } | { blobHash: Buffer; size: number };

export interface IngestInput {
  userId: number;
  mailbox: { specialUse: SpecialUse } | { id: number };
  content: MessageContent;
  summary: MessageSummary;
  flags?: string[];
  internalDate?: Date;
  traceHeaders?: string;
  spoolId?: number;
}

export interface IngestResult {
  messageId: number;
  mailboxId: number;
  uid: number;
  modseq: number;
  threadId: number;
  duplicate: boolean;
}

export interface IngestDeps {
  db: Db;
  events: EventPublisher;
  log?: Logger;
}

/** How far back a subject-only match may reach to join a conversation. */
const SUBJECT_THREAD_WINDOW_MS = 30 * 24 * 3600 * 1000;

/** Message-IDs that tie a message to its conversation: its own, In-Reply-To, and References (root + nearest 19). */
function threadKeys(summary: MessageSummary): string[] {
  const refs = summary.references.length > 20 ? [summary.references[0]!, ...summary.references.slice(-19)] : summary.references;
  return [...new Set([...(summary.messageId ? [summary.messageId] : []), ...(summary.inReplyTo ? [summary.inReplyTo] : []), ...refs])];
}

async function resolveThread(tx: Tx, userId: number, summary: MessageSummary, keys: string[], internalDate: Date): Promise<number> {
  const messages = createMessageRepository(tx);
  // A parent, a sibling, or a reply that arrived first has already mapped one of these ids.
  const byKey = await messages.findThreadByKeys(userId, keys);
  if (byKey !== null) return byKey;
  const looksLikeReply = isReplySubject(summary.subject) || summary.inReplyTo !== null || summary.references.length > 0;
  if (looksLikeReply) {
    const since = new Date(internalDate.getTime() - SUBJECT_THREAD_WINDOW_MS);
    const bySubject = await messages.findThreadBySubject(userId, summary.normalizedSubject, since);
    if (bySubject !== null) return bySubject;
  }
  return messages.newThreadId();
}

/** Files one message; the caller holds the user lock and passes the modseq it took for it. */
async function fileOne(tx: Tx, input: IngestInput, modseq: number): Promise<IngestResult> {
  const { userId, summary } = input;

  // 3. Where it goes.
  const mailboxes = createMailboxRepository(tx);
  const mailbox = 'id' in input.mailbox ? { id: input.mailbox.id } : await mailboxes.findSpecial(userId, input.mailbox.specialUse);
  if (!mailbox) throw new AppError('mailbox.not_found', `user ${userId} has no such mailbox`, 404);

  // 4. The bytes, stored once.
  let hash: Buffer;
  let size: number;
  if ('raw' in input.content) {
    hash = blobHash(input.content.raw);
    size = input.content.raw.length;
    await createBlobRepository(tx).putMany([{ hash, data: input.content.raw }]);
  } else {
    hash = input.content.blobHash;
    size = input.content.size;
  }
  const traceHeaders = input.traceHeaders ?? '';
  const flags = [...new Set(input.flags ?? [])];
  const internalDate = input.internalDate ?? new Date();

  const keys = threadKeys(summary);
  const threadId = await resolveThread(tx, userId, summary, keys, internalDate);
  const uid = await mailboxes.allocateUid(userId, mailbox.id, { modseq, size: size + Buffer.byteLength(traceHeaders), unseen: !flags.includes('\\Seen') });
  if (uid === null) throw new AppError('mailbox.not_found', `mailbox ${mailbox.id} is not user ${userId}'s`, 404);

  const inserted = await tx
    .insertInto('messages')
    .values({
      user_id: userId,
      mailbox_id: mailbox.id,
      uid,
      modseq,
      flags,
      internal_date: internalDate,
      size: size + Buffer.byteLength(traceHeaders),
      blob_hash: hash,
      trace_headers: traceHeaders,
      thread_id: threadId,
      message_id_header: summary.messageId,
      in_reply_to: summary.inReplyTo,
      references: summary.references,
      subject: summary.subject,
      normalized_subject: summary.normalizedSubject,
      from_json: JSON.stringify(summary.from),
      to_json: JSON.stringify(summary.to),
      cc_json: JSON.stringify(summary.cc),
      from_text: addressText(summary.from),
      to_text: addressText(summary.to),
      cc_text: addressText(summary.cc),
      sent_date: summary.sentDate,
      snippet: summary.snippet,
      body_text: summary.bodyText,
      has_attachments: summary.attachments.length > 0,
      attachments: JSON.stringify(summary.attachments),
      attachment_names: summary.attachments.map((a) => a.filename ?? '').join(' '),
      spool_id: input.spoolId ?? null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();

  await createMessageRepository(tx).addThreadKeys(userId, keys, threadId);
  if (input.spoolId !== undefined) {
    await tx.insertInto('spool_filings').values({ spool_id: input.spoolId, user_id: userId, message_id: inserted.id }).execute();
  }
  // Contacts (recipient suggestions): the senders of mail delivered to the Inbox, in this transaction.
  if ('specialUse' in input.mailbox && input.mailbox.specialUse === '\\Inbox') await createContactRepository(tx).recordReceived(userId, summary.from);
  await tx
    .insertInto('changes')
    .values({ user_id: userId, modseq, kind: 'message.new', mailbox_id: mailbox.id, message_id: inserted.id, uid, payload: JSON.stringify({ threadId }) })
    .execute();

  return { messageId: inserted.id, mailboxId: mailbox.id, uid, modseq, threadId, duplicate: false };
}

/** Earlier filings of these spool rows for this user (a retried job), keyed by spool id. */
async function existingFilings(tx: Tx, userId: number, spoolIds: number[]): Promise<Map<number, IngestResult>> {
  if (spoolIds.length === 0) return new Map();
  const rows = await tx
    .selectFrom('spool_filings')
    .leftJoin('messages', 'messages.id', 'spool_filings.message_id')
    .select(['spool_filings.spool_id', 'spool_filings.message_id', 'messages.mailbox_id', 'messages.uid', 'messages.modseq', 'messages.thread_id'])
    .where('spool_filings.spool_id', 'in', spoolIds)
    .where('spool_filings.user_id', '=', userId)
    .execute();
  // If the owner has deleted the message since, it stays deleted (zeros, duplicate: true).
  return new Map(rows.map((r) => [r.spool_id, { messageId: r.message_id, mailboxId: r.mailbox_id ?? 0, uid: r.uid ?? 0, modseq: r.modseq ?? 0, threadId: r.thread_id ?? 0, duplicate: true }]));
}

/**
 * Files messages of one user in one transaction, in order. Results line up with `inputs`.
 * A spool row filed before (or twice in this batch) comes back with `duplicate: true`.
 */
export async function ingestForUser(deps: IngestDeps, userId: number, inputs: IngestInput[]): Promise<IngestResult[]> {
  if (inputs.some((i) => i.userId !== userId)) throw new Error('ingestForUser: every input must be for the same user');
  if (inputs.length === 0) return [];
  const results = await deps.db.transaction().execute(async (tx) => {
    // 1. The user lock first: every writer of this user's mail passes here, so the duplicate
    //    check below cannot race with another filing of the same spool row.
    const locked = await tx.selectFrom('users').select('id').where('id', '=', userId).forUpdate().executeTakeFirst();
    if (!locked) throw new AppError('user.not_found', `user ${userId} does not exist`, 404);
    // 2. Idempotency.
    const spoolIds = inputs.flatMap((i) => (i.spoolId === undefined ? [] : [i.spoolId]));
    const filed = await existingFilings(tx, userId, spoolIds);
    const freshIndexes = inputs.flatMap((input, index) => {
      if (input.spoolId === undefined) return [index];
      if (filed.has(input.spoolId)) return [];
      return inputs.findIndex((other) => other.spoolId === input.spoolId) === index ? [index] : [];
    });
    // 3. One modseq per new message, consecutive.
    const first = freshIndexes.length > 0 ? await takeUserModseqs(tx, userId, freshIndexes.length) : 0;
    const byIndex = new Map<number, IngestResult>();
    for (const [n, index] of freshIndexes.entries()) {
      const input = inputs[index]!;
      const result = await fileOne(tx, input, first + n);
      byIndex.set(index, result);
      if (input.spoolId !== undefined) filed.set(input.spoolId, { ...result, duplicate: true });
    }
    return inputs.map((input, index) => byIndex.get(index) ?? filed.get(input.spoolId!)!);
  });
  for (const result of results) {
    if (result.duplicate) continue;
    try {
      await deps.events.publish(userId, {
        type: 'message.new',
        modseq: result.modseq,
        mailboxId: result.mailboxId,
        messageId: result.messageId,
        uid: result.uid,
        threadId: result.threadId,
      });
    } catch (err) {
      // The change log already holds the event; live clients catch up from it on reconnect.
      deps.log?.warn({ event: 'ingest.publish_failed', userId, err: (err as Error).message });
      break;
    }
  }
  return results;
}

export async function ingestMessage(deps: IngestDeps, input: IngestInput): Promise<IngestResult> {
  const [result] = await ingestForUser(deps, input.userId, [input]);
  return result!;
}
