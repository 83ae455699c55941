import { sql } from 'kysely';
import type { DbOrTx } from '../db/client.js';
import { asBase64, bytesOf } from './blob.repository.js';

/**
 * Queries of mailbox export and import (mail/transfer/): a user's messages in export order with
 * their bytes, and which messages an import already holds. Scoped by owner.
 */

export interface ExportRow {
  mailboxId: number;
  uid: number;
  internalDate: Date;
  flags: string[];
  envelopeFrom: string | null;
  /** Trace header lines (Received:) followed by the stored bytes: the message as it was received. */
  bytes: Buffer;
}

export function createTransferRepository(db: DbOrTx) {
  return {
    /**
     * The next messages of a mailbox after `afterUid`, in UID order, bytes included. A page is
     * kept small by the caller (bytes are in it).
     */
    async exportPage(userId: number, mailboxId: number, afterUid: number, limit: number): Promise<ExportRow[]> {
      const rows = await db
        .selectFrom('messages')
        .innerJoin('blobs', 'blobs.hash', 'messages.blob_hash')
        .select(['messages.mailbox_id', 'messages.uid', 'messages.internal_date', 'messages.flags', 'messages.trace_headers'])
        .select(asBase64('blobs.data').as('data'))
        .select(sql<string | null>`messages.from_json -> 0 ->> 'address'`.as('from_address'))
        .where('messages.user_id', '=', userId)
        .where('messages.mailbox_id', '=', mailboxId)
        .where('messages.uid', '>', afterUid)
        .orderBy('messages.uid')
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        mailboxId: r.mailbox_id,
        uid: r.uid,
        internalDate: r.internal_date,
        flags: r.flags,
        envelopeFrom: r.from_address,
        bytes: r.trace_headers ? Buffer.concat([Buffer.from(r.trace_headers), bytesOf(r.data)]) : bytesOf(r.data),
      }));
    },

    /**
     * Of the given (Message-ID, content hash) pairs, those the mailbox already holds: found through
     * the owner's Message-ID index, confirmed by the stored content's hash. Messages without a
     * Message-ID are looked up by hash among the mailbox's messages that have none.
     */
    async alreadyThere(userId: number, mailboxId: number, items: ReadonlyArray<{ messageId: string | null; hash: Buffer }>): Promise<Set<string>> {
      const ids = [...new Set(items.map((i) => i.messageId).filter((id): id is string => id !== null))];
      const anonymous = items.filter((i) => i.messageId === null).map((i) => i.hash);
      const found = new Set<string>();
      if (ids.length > 0) {
        const rows = await db
          .selectFrom('messages')
          .select('blob_hash')
          .where('user_id', '=', userId)
          .where('message_id_header', 'in', ids)
          .where('mailbox_id', '=', mailboxId)
          .execute();
        for (const r of rows) found.add(r.blob_hash.toString('hex'));
      }
      if (anonymous.length > 0) {
        const rows = await db
          .selectFrom('messages')
          .select('blob_hash')
          .where('user_id', '=', userId)
          .where('mailbox_id', '=', mailboxId)
          .where('message_id_header', 'is', null)
          .where('blob_hash', 'in', anonymous)
          .execute();
        for (const r of rows) found.add(r.blob_hash.toString('hex'));
      }
      return found;
    },
  };
}
export type TransferRepository = ReturnType<typeof createTransferRepository>;
