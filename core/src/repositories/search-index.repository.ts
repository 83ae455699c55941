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
   * `userId` is given) in ONE statement: the queue rows are taken (without a user, rows another
   * indexer holds are skipped; with one, waited for), each message row is locked in share mode while its vector is written, and the queue
   * rows of the messages indexed are deleted. A message row a writer holds at that moment (a move,
   * a delete, a flag change in progress) is skipped and stays queued for the next round: with the
   * lock, the folder copied into `message_search` is the message's folder after any move that
   * committed first, and a move that commits after sees the new row (it updates the folder
   * there, see MessageRepository.relocate). Returns how many were indexed and how many were taken.
   */
  async function indexPending(options: { userId?: number; limit: number }): Promise<{ indexed: number; taken: number }> {
    const picked =
      options.userId === undefined
        ? sql`SELECT message_id FROM search_pending ORDER BY message_id LIMIT ${options.limit} FOR UPDATE SKIP LOCKED`
        : // A search's catch-up waits for rows another indexer is indexing, so that it reads them after.
          sql`SELECT message_id FROM search_pending WHERE user_id = ${options.userId} ORDER BY message_id LIMIT ${options.limit} FOR UPDATE`;
    const { rows } = await sql<{ indexed: number; taken: number }>`${PREPARED}
      WITH picked AS MATERIALIZED (${picked}),
      source AS MATERIALIZED (
        SELECT m.id, m.user_id, m.mailbox_id, m.internal_date, ${VECTOR} AS search
        FROM messages m WHERE m.id IN (SELECT message_id FROM picked)
        ORDER BY m.id FOR SHARE OF m SKIP LOCKED
      ),
      stored AS (
        INSERT INTO message_search (message_id, user_id, mailbox_id, internal_date, search)
        SELECT id, user_id, mailbox_id, internal_date, search FROM source
        ON CONFLICT (message_id) DO NOTHING
      ),
      done AS (DELETE FROM search_pending p WHERE p.message_id IN (SELECT id FROM source))
      SELECT (SELECT count(*) FROM source)::int AS indexed, (SELECT count(*) FROM picked)::int AS taken`.execute(db);
    return { indexed: Number(rows[0]?.indexed ?? 0), taken: Number(rows[0]?.taken ?? 0) };
  }

  return {
    indexPending,
    /**
     * Indexes everything the user has queued, batch after batch, before a search reads the index.
     * Messages a writer holds at that moment (see indexPending) are left for the next round.
     */
    async catchUp(userId: number, batch = 500): Promise<number> {
      let total = 0;
      for (;;) {
        const { indexed, taken } = await indexPending({ userId, limit: batch });
        total += indexed;
        if (taken < batch || indexed === 0) return total;
      }
    },
    /** Whether any message waits for the index (one index probe). */
    async anyPending(): Promise<boolean> {
      const { rows } = await sql<{ one: number }>`${PREPARED}SELECT 1 AS one FROM search_pending LIMIT 1`.execute(db);
      return rows.length > 0;
    },
    /** Keeps the folder of indexed messages in step with a move (MessageRepository.relocate). */
    async moved(userId: number, mailboxId: number, messageIds: readonly number[]): Promise<void> {
      if (messageIds.length === 0) return;
      await sql`${PREPARED}
        UPDATE message_search SET mailbox_id = ${mailboxId}
        WHERE message_id = ANY(${[...messageIds]}::bigint[]) AND user_id = ${userId} AND mailbox_id <> ${mailboxId}`.execute(db);
    },
  };
}
export type SearchIndexRepository = ReturnType<typeof createSearchIndexRepository>;
