import type { DbOrTx } from '../db/client.js';
import type { Logger } from '../log/logger.js';
import { createSearchIndexRepository } from '../repositories/search-index.repository.js';

/**
 * The search index stage's background pass (migration 0026): mail is filed first and made
 * searchable right after, outside the filing transaction. Every `intervalMs` it indexes what is
 * queued (`search_pending`), in batches of `batch` messages, the oldest first, until nothing is
 * left. The inbound worker runs it beside its filing:
 * - while filing has a backlog (`backlogged()`: its window of messages in progress is full), mail
 *   reaching the mailboxes comes first: the pass indexes only one batch every `backlogEveryMs`,
 *   and the rest once the backlog is gone. So a burst is filed at the speed of filing alone and
 *   becomes searchable after it (bench/README.md, "Searchable a moment later", has the figures);
 * - otherwise a message is searchable within about `intervalMs` of being filed.
 * A search never waits for it: it indexes its own user's queued mail first (SearchRepository).
 * Several processes may run it at once (each batch skips the rows another one holds).
 */
export interface SearchIndexerOptions {
  /** Messages per statement (default 200). */
  batch?: number;
  /** How often it looks for queued mail (default 200 ms). */
  intervalMs?: number;
  /** Whether the process's own work is behind (then the pass mostly waits); default never. */
  backlogged?: () => boolean;
  /** While backlogged, one batch at most this often (default 2,000 ms). */
  backlogEveryMs?: number;
}

export interface SearchIndexer {
  /** Runs a pass now (tests, and after a stop of the backlog); resolves when it is over. */
  pass(): Promise<void>;
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>;
}

export function startSearchIndexer(deps: { db: DbOrTx; log: Logger }, options: SearchIndexerOptions = {}): SearchIndexer {
  const batch = options.batch ?? 200;
  const backlogEveryMs = options.backlogEveryMs ?? 2000;
  const backlogged = options.backlogged ?? (() => false);
  const repo = createSearchIndexRepository(deps.db);
  let running: Promise<void> | null = null;
  let stopped = false;
  let lastBatchAt = 0;

  const run = async () => {
    for (;;) {
      if (stopped) return;
      if (backlogged() && Date.now() - lastBatchAt < backlogEveryMs) return;
      const { taken } = await repo.indexPending({ limit: batch });
      if (taken > 0) lastBatchAt = Date.now();
      if (taken < batch) return;
    }
  };
  const pass = (): Promise<void> => {
    running ??= run()
      .catch((err: Error) => deps.log.warn({ event: 'search.index_failed', err: err.message }))
      .finally(() => {
        running = null;
      });
    return running;
  };
  const timer = setInterval(() => void pass(), options.intervalMs ?? 200);
  timer.unref();
  return {
    pass,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
