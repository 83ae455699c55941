import type { DbOrTx } from '../db/client.js';
import type { ChangeKind } from '../db/schema.js';

/**
 * Reads the per-user change log (`changes`) and the user's change counter (`users.modseq`) for
 * anything that catches up after a gap: the live change feed's replay (SSE `Last-Event-ID`, IMAP
 * IDLE and QRESYNC). Rows are returned as stored; core/src/events/change-log.ts turns them into
 * events. Writes go through the mailbox writer (modseq.repository.ts).
 */

/** A change-log row as read back. */
export interface ChangeRow {
  modseq: number;
  kind: ChangeKind;
  mailbox_id: number | null;
  message_id: number | null;
  uid: number | null;
  payload: Record<string, unknown> | null;
}

export function createChangeRepository(db: DbOrTx) {
  return {
    /** The user's modseq now (the last change committed); 0 when there is no such user. */
    async currentModseq(userId: number): Promise<number> {
      const row = await db.selectFrom('users').select('modseq').where('id', '=', userId).executeTakeFirst();
      return row?.modseq ?? 0;
    },

    /** The user's rows of these kinds with modseq greater than `after`, oldest first, at most `limit`. */
    async readSince(userId: number, after: number, filter: { kinds: readonly ChangeKind[]; limit: number }): Promise<ChangeRow[]> {
      if (filter.kinds.length === 0) return [];
      return db
        .selectFrom('changes')
        .select(['modseq', 'kind', 'mailbox_id', 'message_id', 'uid', 'payload'])
        .where('user_id', '=', userId)
        .where('modseq', '>', after)
        .where('kind', 'in', filter.kinds)
        .orderBy('modseq', 'asc')
        .limit(filter.limit)
        .execute();
    },

    /**
     * How many of the user's rows of these kinds have modseq greater than `after`, counting no
     * further than `cap` (so a huge gap costs no more than `cap` index entries).
     */
    async countSince(userId: number, after: number, filter: { kinds: readonly ChangeKind[]; cap: number }): Promise<number> {
      if (filter.kinds.length === 0) return 0;
      const row = await db
        .selectFrom((eb) =>
          eb
            .selectFrom('changes')
            .select('modseq')
            .where('user_id', '=', userId)
            .where('modseq', '>', after)
            .where('kind', 'in', filter.kinds)
            .limit(filter.cap)
            .as('gap'),
        )
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}
export type ChangeRepository = ReturnType<typeof createChangeRepository>;
