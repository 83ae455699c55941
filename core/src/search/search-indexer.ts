import type { DbOrTx } from '../db/client.js';
import type { Logger } from '../log/logger.js';
import { createSearchIndexRepository } from '../repositories/search-index.repository.js';

/**
 * The search index stage's background pass (migration 0026): mail is filed first and made
 * searchable right after, outside the filing transaction. Every `intervalMs` it indexes what is
 * queued (`search_pending`), in batches of `batch` messages, the oldest first, until nothing is
 * left. The inbound worker runs it beside its filing:
 * - when filing keeps up, a message is searchable within about `intervalMs` of being filed;
 * - while filing is behind (`backlogged()`: more messages in progress than it parses at once),
 *   mail reaching the mailboxes comes first: the pass waits, unless the queue has not been empty
 *   for `maxLagMs`; then it indexes until it is. So a burst shorter than that is filed at the
 *   speed of filing alone and becomes searchable right after it, and under a longer one search is
 *   never more than about `maxLagMs` (plus the time to index that much) behind filing
 *   (bench/README.md, "Searchable a moment later", has the figures).
 * A search does not depend on it: it first indexes what its own user still has queued
 * (SearchRepository). Several processes may run it at once (each skips the rows another holds).
 */
export interface SearchIndexerOptions {
  /** Messages per statement (default 200). */
  batch?: number;
  /** How often it looks for queued mail (default 200 ms). */
  intervalMs?: number;
  /** Whether the process's own work is behind (then the pass waits, see maxLagMs); default never. */
  backlogged?: () => boolean;
  /** How long the queue may stay non-empty while backlogged before the pass runs anyway (default 5,000 ms). */
  maxLagMs?: number;
}

export interface SearchIndexer {
  /** Runs a pass now (tests); resolves when it is over. */
  pass(): Promise<void>;
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>;
}

export function startSearchIndexer(deps: { db: DbOrTx; log: Logger }, options: SearchIndexerOptions = {}): SearchIndexer {
  const batch = options.batch ?? 200;
  const maxLagMs = options.maxLagMs ?? 5000;
  const backlogged = options.backlogged ?? (() => false);
  const repo = createSearchIndexRepository(deps.db);
  let running: Promise<void> | null = null;
  let stopped = false;
  /** A failing pass is told once (the timer retries every intervalMs), and so is the first that works again. */
  let failing = false;
  /** When a pass last found the queue empty: how far behind filing search may be is measured from it. */
  let caughtUpAt = Date.now();

  const run = async () => {
    for (;;) {
      if (stopped) return;
      if (backlogged() && Date.now() - caughtUpAt < maxLagMs) return;
      const { taken } = await repo.indexPending({ limit: batch });
      if (taken < batch) {
        caughtUpAt = Date.now();
        return;
      }
    }
  };
  const pass = (): Promise<void> => {
    running ??= run()
      .then(
        () => {
          if (failing) deps.log.info({ event: 'search.index_recovered' });
          failing = false;
        },
        (err: Error) => {
          if (!failing) deps.log.warn({ event: 'search.index_failed', err: err.message });
          failing = true;
        },
      )
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
