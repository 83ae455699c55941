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
   * `userId` is given), in one short transaction, in the writers' lock order:
   * 1. the users of those messages are locked in share mode (in id order), so no mailbox writer of
   *    theirs is between its statements: every move, delete or filing of theirs has committed
   *    before, or starts after;
   * 2. the queue rows of those users are taken (without a user, rows another indexer holds are
   *    skipped; with one, waited for), the vectors written from the messages as they are now
   *    (a message deleted meanwhile has none), and the queue rows deleted.
   * A move that commits after sees the new row and updates its folder (MessageRepository.relocate).
   * Returns how many messages were indexed and how many queue rows were taken.
   */
  async function indexPending(options: { userId?: number; limit: number }): Promise<{ indexed: number; taken: number }> {
    const work = async (tx: DbOrTx) => {
      const users =
        options.userId === undefined
          ? sql`SELECT DISTINCT user_id FROM (SELECT user_id FROM search_pending ORDER BY message_id LIMIT ${options.limit}) p`
          : sql`SELECT ${options.userId}::bigint`;
      const { rows: locked } = await sql<{ id: number }>`${PREPARED}SELECT id FROM users WHERE id IN (${users}) ORDER BY id FOR SHARE`.execute(tx);
      if (locked.length === 0) return { indexed: 0, taken: 0 };
      const picked =
        options.userId === undefined
          ? sql`SELECT message_id FROM search_pending WHERE user_id = ANY(${locked.map((u) => u.id)}::bigint[]) ORDER BY message_id LIMIT ${options.limit} FOR UPDATE SKIP LOCKED`
          : // A search's catch-up waits for rows another indexer is indexing, so that it reads them after.
            sql`SELECT message_id FROM search_pending WHERE user_id = ${options.userId} ORDER BY message_id LIMIT ${options.limit} FOR UPDATE`;
      const { rows } = await sql<{ indexed: number; taken: number }>`${PREPARED}
        WITH picked AS MATERIALIZED (${picked}),
        stored AS (
          INSERT INTO message_search (message_id, user_id, mailbox_id, internal_date, search)
          SELECT m.id, m.user_id, m.mailbox_id, m.internal_date, ${VECTOR} FROM messages m WHERE m.id IN (SELECT message_id FROM picked)
          ON CONFLICT (message_id) DO NOTHING
          RETURNING 1
        ),
        done AS (DELETE FROM search_pending p WHERE p.message_id IN (SELECT message_id FROM picked))
        SELECT (SELECT count(*) FROM stored)::int AS indexed, (SELECT count(*) FROM picked)::int AS taken`.execute(tx);
      return { indexed: Number(rows[0]?.indexed ?? 0), taken: Number(rows[0]?.taken ?? 0) };
    };
    return db.isTransaction ? work(db) : db.transaction().execute(work);
  }

  return {
    indexPending,
    /** Indexes everything the user has queued, batch after batch, before a search reads the index. */
    async catchUp(userId: number, batch = 500): Promise<number> {
      let total = 0;
      for (;;) {
        const { indexed, taken } = await indexPending({ userId, limit: batch });
        total += indexed;
        if (taken < batch) return total;
      }
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
