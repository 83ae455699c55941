import { sql } from 'kysely';
import type { Db, Tx } from '../db/client.js';
import type { SpecialUse } from '../db/schema.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Logger } from '../log/logger.js';
import { blobHash, createBlobRepository } from '../repositories/blob.repository.js';
import { createMailboxRepository } from '../repositories/mailbox.repository.js';
import { createMessageRepository } from '../repositories/message.repository.js';
import { addressText, type MessageSummary } from './parse.js';
import { isReplySubject } from './threading.js';
import { AppError } from '../errors.js';

/**
 * ingest: the ONE way a message enters a mailbox. In a single transaction it takes the user's
 * next modseq (the user row lock orders everything that changes this user's mail), takes the
 * mailbox's next UID, threads the message, inserts it, and appends to the change log. After the
 * commit it publishes the event. With a `spoolId` it is idempotent: filing the same accepted
 * message for the same user twice returns the first filing.
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

/** Thrown inside the transaction to roll back the modseq taken before the duplicate was seen. */
class DuplicateFiling extends Error {
  constructor(public readonly result: IngestResult) {
    super('duplicate filing');
  }
}

/** How far back a subject-only match may reach to join a conversation. */
const SUBJECT_THREAD_WINDOW_MS = 30 * 24 * 3600 * 1000;

async function resolveThread(tx: Tx, userId: number, summary: MessageSummary, internalDate: Date): Promise<number> {
  const messages = createMessageRepository(tx);
  const refs = [...summary.references, ...(summary.inReplyTo ? [summary.inReplyTo] : []), ...(summary.messageId ? [summary.messageId] : [])];
  const byReference = await messages.findThreadByMessageIds(userId, [...new Set(refs)]);
  if (byReference !== null) return byReference;
  if (summary.messageId) {
    const byChild = await messages.findThreadReferencing(userId, summary.messageId);
    if (byChild !== null) return byChild;
  }
  const looksLikeReply = isReplySubject(summary.subject) || summary.inReplyTo !== null || summary.references.length > 0;
  if (looksLikeReply) {
    const since = new Date(internalDate.getTime() - SUBJECT_THREAD_WINDOW_MS);
    const bySubject = await messages.findThreadBySubject(userId, summary.normalizedSubject, since);
    if (bySubject !== null) return bySubject;
  }
  return messages.newThreadId();
}

async function ingestInTransaction(tx: Tx, input: IngestInput): Promise<IngestResult> {
  const { userId, summary } = input;

  // 1. Lock the user and take the next modseq. Every writer of this user's mail passes here first.
  const user = await tx
    .updateTable('users')
    .set({ modseq: sql`modseq + 1` })
    .where('id', '=', userId)
    .returning('modseq')
    .executeTakeFirst();
  if (!user) throw new AppError('user.not_found', `user ${userId} does not exist`, 404);
  const modseq = user.modseq;

  // 2. Idempotency: under the user lock, a second filing of the same spool row sees the first.
  if (input.spoolId !== undefined) {
    const filed = await tx
      .selectFrom('spool_filings')
      .leftJoin('messages', 'messages.id', 'spool_filings.message_id')
      .select(['spool_filings.message_id', 'messages.mailbox_id', 'messages.uid', 'messages.modseq', 'messages.thread_id'])
      .where('spool_filings.spool_id', '=', input.spoolId)
      .where('spool_filings.user_id', '=', userId)
      .executeTakeFirst();
    if (filed) {
      // Filed before (a retried job). If the owner has deleted it since, it stays deleted.
      throw new DuplicateFiling({
        messageId: filed.message_id,
        mailboxId: filed.mailbox_id ?? 0,
        uid: filed.uid ?? 0,
        modseq: filed.modseq ?? 0,
        threadId: filed.thread_id ?? 0,
        duplicate: true,
      });
    }
  }

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

  const threadId = await resolveThread(tx, userId, summary, internalDate);
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

  if (input.spoolId !== undefined) {
    await tx.insertInto('spool_filings').values({ spool_id: input.spoolId, user_id: userId, message_id: inserted.id }).execute();
  }
  await tx
    .insertInto('changes')
    .values({ user_id: userId, modseq, kind: 'message.new', mailbox_id: mailbox.id, message_id: inserted.id, uid, payload: JSON.stringify({ threadId }) })
    .execute();

  return { messageId: inserted.id, mailboxId: mailbox.id, uid, modseq, threadId, duplicate: false };
}

export async function ingestMessage(deps: IngestDeps, input: IngestInput): Promise<IngestResult> {
  let result: IngestResult;
  try {
    result = await deps.db.transaction().execute((tx) => ingestInTransaction(tx, input));
  } catch (err) {
    if (err instanceof DuplicateFiling) return err.result;
    throw err;
  }
  try {
    await deps.events.publish(input.userId, {
      type: 'message.new',
      modseq: result.modseq,
      mailboxId: result.mailboxId,
      messageId: result.messageId,
      uid: result.uid,
      threadId: result.threadId,
    });
  } catch (err) {
    // The change log already holds the event; live clients catch up from it on reconnect.
    deps.log?.warn({ event: 'ingest.publish_failed', userId: input.userId, err: (err as Error).message });
  }
  return result;
}
