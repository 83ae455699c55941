import { blobHash } from '../../repositories/blob.repository.js';
import { createMailboxRepository } from '../../repositories/mailbox.repository.js';
import { createTransferRepository } from '../../repositories/transfer.repository.js';
import { createMailbox, writeMailboxes, type MailboxWriterDeps } from '../mailbox-writer/index.js';
import { summarizeMessage } from '../parse.js';
import { readMbox } from './mbox.js';
import { takeMetadata } from './metadata.js';

/**
 * Imports messages (from an mbox or a Maildir, see mbox.ts and maildir.ts) into a user's
 * mailboxes through the mailbox writer, so threading, counters, quotas and the change feed apply.
 * Folders are made when missing; flags and dates are kept.
 *
 * Idempotent, and so resumable: a message whose exact content the target mailbox already holds
 * (same Message-ID and same bytes) is skipped. Importing a file twice adds nothing; an import
 * that stopped half-way picks up where it was when run again.
 */

export interface ImportItem {
  raw: Buffer;
  /** The folder the source says (null: the INBOX). Mbox metadata headers in `raw` may say it instead. */
  folder: string | null;
  flags: readonly string[];
  /** The received date; null: the message's Date header, else now. */
  date: Date | null;
}

export interface ImportProgress {
  read: number;
  imported: number;
  /** Already in the mailbox. */
  skipped: number;
}

export interface ImportOptions {
  /** Everything into this folder instead of the folders the source names. */
  mailbox?: string;
  /** Messages per transaction. */
  batchSize?: number;
  onProgress?(progress: ImportProgress): void;
}

const INBOX = 'INBOX';
const MAX_BATCH_BYTES = 16 * 1024 * 1024;

export async function importMessages(deps: MailboxWriterDeps, userId: number, items: AsyncIterable<ImportItem>, options: ImportOptions = {}): Promise<ImportProgress> {
  const progress: ImportProgress = { read: 0, imported: 0, skipped: 0 };
  // Promises, so that the messages of one batch, prepared together, make a missing folder once.
  const mailboxIds = new Map<string, Promise<number>>();
  const mailboxes = createMailboxRepository(deps.db);
  const transfer = createTransferRepository(deps.db);

  const mailboxFor = (name: string): Promise<number> => {
    let id = mailboxIds.get(name);
    if (id === undefined) {
      id = mailboxes.findByName(userId, name).then(async (found) => found?.id ?? (await createMailbox(deps, userId, name)).id);
      mailboxIds.set(name, id);
    }
    return id;
  };

  let batch: ImportItem[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const prepared = await Promise.all(
      batch.map(async (item) => {
        const { raw, metadata } = takeMetadata(item.raw);
        const summary = await summarizeMessage(raw);
        const folder = options.mailbox ?? metadata.folder ?? item.folder ?? INBOX;
        return { raw, summary, hash: blobHash(raw), mailboxId: await mailboxFor(folder), flags: [...new Set([...item.flags, ...metadata.flags])], date: item.date };
      }),
    );
    batch = [];
    batchBytes = 0;
    const fresh: typeof prepared = [];
    const seen = new Set<string>();
    for (const mailboxId of new Set(prepared.map((p) => p.mailboxId))) {
      const inMailbox = prepared.filter((p) => p.mailboxId === mailboxId);
      const there = await transfer.alreadyThere(userId, mailboxId, inMailbox.map((p) => ({ messageId: p.summary.messageId, hash: p.hash })));
      for (const p of inMailbox) {
        const key = `${mailboxId}:${p.hash.toString('hex')}`;
        if (there.has(p.hash.toString('hex')) || seen.has(key)) progress.skipped += 1;
        else fresh.push(p);
        seen.add(key);
      }
    }
    if (fresh.length > 0) {
      await writeMailboxes(deps, [userId], (w) =>
        w.append(
          userId,
          fresh.map((p) => ({ mailbox: { id: p.mailboxId }, content: { raw: p.raw }, summary: p.summary, flags: p.flags, internalDate: p.date ?? p.summary.sentDate ?? new Date() })),
          { enforceQuota: true },
        ),
      );
      progress.imported += fresh.length;
    }
    options.onProgress?.({ ...progress });
  };

  for await (const item of items) {
    progress.read += 1;
    batch.push(item);
    batchBytes += item.raw.length;
    if (batch.length >= (options.batchSize ?? 100) || batchBytes >= MAX_BATCH_BYTES) await flush();
  }
  await flush();
  return progress;
}

/** The messages of an mbox stream (a file, an upload) as import items, read one at a time. */
export async function* mboxImportItems(input: AsyncIterable<Buffer>): AsyncGenerator<ImportItem> {
  for await (const m of readMbox(input)) yield { raw: m.raw, folder: null, flags: [], date: m.date };
}
