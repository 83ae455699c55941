import { sql } from 'kysely';
import { type DbOrTx, PREPARED } from '../db/client.js';

/**
 * The search index stage (migration 0026): `search_pending` lists the messages whose search vector
 * is not computed yet, `message_search` holds the vectors. The mailbox writer queues every message
 * it inserts, in the statement that inserts it (MessageRepository.insertMany, copyRows);
 * `indexPending` computes the vectors of queued messages in batches (the inbound worker runs it
 * beside filing: core/src/search/search-indexer.ts; a search runs it for its user first:
 * core/src/repositories/search.repository.ts).
 *
 * A message's vector (SEARCH_VECTOR_SQL, of a `messages` row named m), as migration 0001's
 * generated column had it: the subject with weight A, the From/To/Cc names and addresses and the
 * attachment names with weight B, the first 200,000 characters of the body text with weight C;
 * the 'simple' configuration (no stemming, no stop words).
 */
export const SEARCH_VECTOR_SQL = `
  setweight(to_tsvector('simple', m.subject), 'A') ||
  setweight(to_tsvector('simple', m.from_text || ' ' || m.to_text || ' ' || m.cc_text), 'B') ||
  setweight(to_tsvector('simple', m.attachment_names), 'B') ||
  setweight(to_tsvector('simple', left(m.body_text, 200000)), 'C')`;
const VECTOR = sql.raw(SEARCH_VECTOR_SQL);

export function createSearchIndexRepository(db: DbOrTx) {
  /**
   * Computes the vectors of up to `limit` queued messages, the oldest first (of one user's when
   * `userId` is given, and with ids up to `upTo`), in one short transaction of two statements:
   * 1. the queue rows are locked (without `userId`, rows someone else holds are skipped; with one,
   *    waited for);
   * 2. then, in a snapshot taken after those locks, the vectors are written from the messages as
   *    they are now (a message deleted meanwhile gets none) and the queue rows deleted.
   * A mailbox writer that moves or deletes messages locks their queue rows (`holdQueued`) before it
   * changes their search rows (MessageRepository.relocate, removeWhere), so it either committed
   * before step 1 (and step 2 sees its change) or its change of the search rows comes after this
   * transaction has committed, and finds the rows written here.
   * Returns how many messages were indexed and how many queue rows were taken.
   */
  async function indexPending(options: { userId?: number; limit: number; upTo?: number }): Promise<{ indexed: number; taken: number }> {
    const work = async (tx: DbOrTx) => {
      const { rows: picked } = await (options.userId === undefined
        ? sql<{ id: number }>`${PREPARED}SELECT message_id AS id FROM search_pending ORDER BY message_id LIMIT ${options.limit} FOR UPDATE SKIP LOCKED`
        : sql<{ id: number }>`${PREPARED}SELECT message_id AS id FROM search_pending WHERE user_id = ${options.userId} AND message_id <= ${options.upTo ?? Number.MAX_SAFE_INTEGER} ORDER BY message_id LIMIT ${options.limit} FOR UPDATE`
      ).execute(tx);
      if (picked.length === 0) return { indexed: 0, taken: 0 };
      const ids = picked.map((p) => p.id);
      const { rows } = await sql<{ indexed: number }>`${PREPARED}
        WITH stored AS (
          INSERT INTO message_search (message_id, user_id, mailbox_id, internal_date, search)
          SELECT m.id, m.user_id, m.mailbox_id, m.internal_date, ${VECTOR} FROM messages m WHERE m.id = ANY(${ids}::bigint[])
          ON CONFLICT (message_id) DO NOTHING
          RETURNING 1
        ),
        done AS (DELETE FROM search_pending WHERE message_id = ANY(${ids}::bigint[]))
        SELECT count(*)::int AS indexed FROM stored`.execute(tx);
      return { indexed: Number(rows[0]?.indexed ?? 0), taken: ids.length };
    };
    if (db.isTransaction) return work(db);
    return db.transaction().execute(async (tx) => {
      // Derived data, written all or nothing with the queue rows it deletes: a crash that loses this
      // commit loses both, and the messages are indexed again. So it need not wait for its WAL flush
      // (nor make filing's commits wait behind it).
      await sql`SET LOCAL synchronous_commit = off`.execute(tx);
      return work(tx);
    });
  }

  return {
    indexPending,
    /**
     * Indexes everything the user had queued when it was called, batch after batch, before a search
     * reads the index. Mail queued meanwhile is left to the indexer: it arrived after the search, and
     * a steady stream of it cannot keep the search waiting.
     */
    async catchUp(userId: number, batch = 500): Promise<number> {
      // Usually nothing: one index probe (the newest queued id), no transaction.
      const { rows: newest } = await sql<{ id: number | null }>`${PREPARED}SELECT max(message_id) AS id FROM search_pending WHERE user_id = ${userId}`.execute(db);
      const upTo = newest[0]?.id ?? null;
      if (upTo === null) return 0;
      let total = 0;
      for (;;) {
        const { indexed, taken } = await indexPending({ userId, limit: batch, upTo: Number(upTo) });
        total += indexed;
        if (taken < batch) return total;
      }
    },
    /**
     * Locks the queue rows of these messages (those not indexed yet) until the caller's transaction
     * ends: a mailbox writer calls it before it changes or deletes the messages' search rows, so
     * that an indexer in progress has committed them first (see indexPending). Call it in a
     * transaction, in a statement of its own.
     */
    async holdQueued(messageIds: readonly number[]): Promise<void> {
      if (messageIds.length === 0) return;
      await sql`${PREPARED}SELECT message_id FROM search_pending WHERE message_id = ANY(${[...messageIds]}::bigint[]) ORDER BY message_id FOR UPDATE`.execute(db);
    },
    /** Keeps the folder of indexed messages in step with a move (MessageRepository.relocate), after holdQueued. */
    async moved(userId: number, mailboxId: number, messageIds: readonly number[]): Promise<void> {
      if (messageIds.length === 0) return;
      await sql`${PREPARED}
        UPDATE message_search SET mailbox_id = ${mailboxId}
        WHERE message_id = ANY(${[...messageIds]}::bigint[]) AND user_id = ${userId} AND mailbox_id <> ${mailboxId}`.execute(db);
    },
    /** Deletes the search rows (indexed or queued) of deleted messages (MessageRepository.removeWhere), after holdQueued. */
    async removed(messageIds: readonly number[]): Promise<void> {
      if (messageIds.length === 0) return;
      await sql`${PREPARED}
        WITH unqueued AS (DELETE FROM search_pending WHERE message_id = ANY(${[...messageIds]}::bigint[]))
        DELETE FROM message_search WHERE message_id = ANY(${[...messageIds]}::bigint[])`.execute(db);
    },
  };
}
export type SearchIndexRepository = ReturnType<typeof createSearchIndexRepository>;
