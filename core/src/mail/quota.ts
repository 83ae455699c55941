import type { DbOrTx } from '../db/client.js';
import { AppError } from '../errors.js';
import { createUserRepository, type QuotaUsage } from '../repositories/user.repository.js';

/**
 * Storage quotas. A user's usage (`users.used_bytes`, migration 0014) is the sum of the `size`
 * of every message row they own, kept by the mailbox writer in the same transaction as each
 * append, copy, move, expunge, removal and purge (MailboxWrite.applyDeltas: the same deltas as
 * the per-mailbox counters). Blobs are stored once and shared (recipients of one message, copies,
 * the spool), but each message row counts in full for its owner: usage is what the user sees and
 * can free by deleting, not the disk space it happens to take after deduplication.
 *
 * `quota_bytes` null means no quota. At or over quota (`used >= quota`), or when a new message
 * would take the user over it:
 * - the MX answers RCPT with `452 4.2.2 Mailbox full` (protocol-services/smtp.ts), so the sender
 *   retries and then bounces; mail already accepted into the spool is filed anyway (a 250 was
 *   said: accepted mail is never lost), which may take a user a little over their quota;
 * - IMAP APPEND and COPY answer `NO [OVERQUOTA]` (RFC 9208), the API 413 'quota.exceeded'
 *   (saving a draft, sending);
 * - sending is refused too (API and submission): every sent message stores a \Sent copy, and a
 *   full mailbox neither receives nor sends until the user deletes mail (as Gmail does). A message
 *   already held for sending (undo send, scheduled send) was accepted: it goes, Sent copy included.
 * Local copies a user sends to another local user are filed like accepted mail (the sender's
 * hourly limits bound them). Moves never change usage.
 */

export class QuotaExceededError extends AppError {
  constructor(usage: QuotaUsage) {
    super('quota.exceeded', `your mailbox is full: ${formatBytes(usage.usedBytes)} of ${formatBytes(usage.quotaBytes ?? 0)} used; delete some mail (and empty the Trash) to make room`, 413);
  }
}

/** Whether `adding` more bytes fit: no quota, or under it now and still within it after. */
export function hasRoom(usage: QuotaUsage, adding = 0): boolean {
  return usage.quotaBytes === null || (usage.usedBytes < usage.quotaBytes && usage.usedBytes + adding <= usage.quotaBytes);
}

/** Throws QuotaExceededError (413) unless `adding` bytes fit in the user's quota. */
export async function assertRoom(db: DbOrTx, userId: number, adding = 0): Promise<void> {
  const usage = await createUserRepository(db).usage(userId);
  if (usage && !hasRoom(usage, adding)) throw new QuotaExceededError(usage);
}

/** Whether the user is at or over their quota (the MX's RCPT check). */
export async function isOverQuota(db: DbOrTx, userId: number): Promise<boolean> {
  const usage = await createUserRepository(db).usage(userId);
  return usage !== null && !hasRoom(usage);
}

function formatBytes(n: number): string {
  if (n < 1024 * 1024) return `${Math.ceil(n / 1024)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  return `${(n / (1024 * 1024 * 1024)).toFixed(2)} GB`;
}
