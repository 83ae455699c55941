import { createMailboxRepository, type MailboxRow } from '../../repositories/mailbox.repository.js';
import { createTransferRepository } from '../../repositories/transfer.repository.js';
import type { Db } from '../../db/client.js';
import { toMboxEntry } from './mbox.js';
import { metadataHeader } from './metadata.js';

/**
 * Exports a user's mail as one mbox: every folder (or one), folders in creation order, messages in
 * UID order, each with its folder and flags as metadata fields (metadata.ts) and its received date
 * on the separator line, so `importMessages` puts everything back where it was.
 *
 * Resumable: the caller gets a cursor (folder id, last UID) after each message it can record with
 * the byte count written so far; `after` continues past it.
 */

export interface ExportCursor {
  mailboxId: number;
  uid: number;
}

export interface ExportOptions {
  /** Only this folder (by name; INBOX in any case). */
  mailbox?: string;
  /** Continue after this message (from an earlier, interrupted export). */
  after?: ExportCursor;
  /** Called with each mbox entry, in order; the export waits for it (back-pressure). */
  write(entry: Buffer, cursor: ExportCursor): Promise<void>;
}

export class ExportError extends Error {}

const PAGE = 50;

export async function exportMailboxes(db: Db, userId: number, options: ExportOptions): Promise<{ messages: number; folders: number }> {
  const mailboxRepo = createMailboxRepository(db);
  let folders: MailboxRow[];
  if (options.mailbox !== undefined) {
    const one = await mailboxRepo.findByName(userId, options.mailbox);
    if (!one) throw new ExportError(`there is no folder "${options.mailbox}"`);
    folders = [one];
  } else {
    folders = await mailboxRepo.list(userId);
  }
  const transfer = createTransferRepository(db);
  let messages = 0;
  for (const folder of folders) {
    if (options.after && folder.id < options.after.mailboxId) continue;
    let afterUid = options.after && folder.id === options.after.mailboxId ? options.after.uid : 0;
    for (;;) {
      const page = await transfer.exportPage(userId, folder.id, afterUid, PAGE);
      for (const row of page) {
        const withMetadata = Buffer.concat([Buffer.from(metadataHeader({ folder: folder.specialUse === '\\Inbox' ? 'INBOX' : folder.name, flags: row.flags }), 'latin1'), row.bytes]);
        await options.write(toMboxEntry(withMetadata, { sender: row.envelopeFrom ?? undefined, date: row.internalDate }), { mailboxId: folder.id, uid: row.uid });
        messages += 1;
      }
      if (page.length < PAGE) break;
      afterUid = page[page.length - 1]!.uid;
    }
  }
  return { messages, folders: folders.length };
}
