import { Worker, type ConnectionOptions } from 'bullmq';
import {
  commitSpoolFilings,
  createInboundQueue,
  createSenderRuleRepository,
  createSpoolRepository,
  fileSpooled,
  inboundJobSchema,
  inboundJobSpoolIds,
  KeyedBatcher,
  QUEUE_INBOUND,
  reconcileSpool,
  resolveRecipients,
  runWithReconciler,
  Semaphore,
  startSearchIndexer,
  type SearchIndexer,
  type Db,
  type EventPublisher,
  type Logger,
  type RecipientVerdict,
  type SenderRuleKind,
  type SpooledMessage,
  type SpoolFiling,
  type SpoolFilingOutcome,
} from '@mailyard/core';

export interface InboundWorkerDeps {
  db: Db;
  events: EventPublisher;
  log: Logger;
  connection: ConnectionOptions;
}

export interface InboundWorkerOptions {
  /** Messages read and parsed at once (their bytes in memory). */
  concurrency: number;
  /** Messages being filed at once, from their read to their group commit (and jobs taken at once). */
  filingWindow: number;
  reconcileIntervalMs: number;
  /** Rows pending longer than this are re-enqueued (their job was lost with Redis or never added). */
  reconcileAgeMs: number;
  /** BullMQ lock: a crashed worker's job is taken over after this long. */
  lockMs?: number;
}

/**
 * The inbound worker: each job names the spool rows of one spool commit (or one row: the
 * reconciler's jobs and older ones), which core's fileSpooled files into the recipients'
 * mailboxes; a periodic reconcile (core's reconcileSpool) re-enqueues rows whose job was lost.
 */
export function buildInboundWorker(deps: InboundWorkerDeps, options: InboundWorkerOptions) {
  const { log } = deps;
  const queue = createInboundQueue(deps.connection);
  // Group commits: the filings that arrive together share one transaction, across users and rows,
  // each row marked done in it (a failed batch is retried row by row). One transaction at a time:
  // what arrives meanwhile waits for the next, which takes up to 50 rows. Two lanes (two transactions at
  // once, users divided by id) filed 20 users' mail ~15 % slower, with more PostgreSQL and worker CPU
  // a message: smaller batches, more commits (bench/README.md, "What is left (issue #14)").
  const filings = new KeyedBatcher<'filing', SpoolFiling, void>(async (_key, batch) => {
    await commitSpoolFilings(deps, batch);
    return batch.map(() => undefined);
  });
  // The reads of jobs that run together are shared: their spool rows (with the bytes), their
  // recipients and their users' sender lists each take one query for all of them. A read always
  // starts after the jobs it answers asked (never an older answer: a new alias or user counts for
  // the next message whose lookup starts after it was committed).
  const loads = new KeyedBatcher<'spool', number, SpooledMessage | null>(async (_key, ids) => {
    const rows = await createSpoolRepository(deps.db).getManyWithBlobs(ids);
    // A row object each (the same id asked twice, a reconciler's job beside a commit's): filing one
    // lets go of its bytes, which must not take them from the other.
    return ids.map((id) => {
      const row = rows.get(id);
      return row ? { ...row } : null;
    });
  });
  const lookups = new KeyedBatcher<'rcpt', readonly string[], RecipientVerdict[]>(async (_key, lists) => {
    const rcpts = [...new Set(lists.flat())];
    const verdicts = await resolveRecipients(deps.db, rcpts);
    const byAddress = new Map(rcpts.map((rcpt, i) => [rcpt, verdicts[i]!]));
    return lists.map((list) => list.map((rcpt) => byAddress.get(rcpt)!));
  });
  const rules = new KeyedBatcher<'rules', { userIds: readonly number[]; sender: string }, Map<number, SenderRuleKind>>((_key, questions) =>
    createSenderRuleRepository(deps.db).decideMany(questions),
  );
  const jobDeps = {
    ...deps,
    load: (spoolId: number) => loads.add('spool', spoolId),
    resolve: (rcpts: readonly string[]) => lookups.add('rcpt', rcpts),
    decide: (userIds: readonly number[], sender: string) => rules.add('rules', { userIds, sender }),
    commit: (filing: SpoolFiling) => filings.add('filing', filing),
  };
  // Two bounds, whatever the jobs' sizes. `filingWindow` rows are being filed at once, from their
  // read to their commit: the group commits take what waits for them, so this is how large they
  // can grow (statements per message fall with it). Of those, `concurrency` rows are being read and
  // parsed: only they have their bytes in memory; a parsed row goes on to its lookups and commit
  // with the summary alone.
  const rowsFiling = new Semaphore(options.filingWindow);
  const rowsParsing = new Semaphore(options.concurrency);
  const fileRow = async (spoolId: number, attempt: number) => {
    const release = await rowsFiling.acquire();
    try {
      return await fileSpooled(jobDeps, spoolId, attempt, await rowsParsing.acquire());
    } finally {
      release();
    }
  };
  const worker = new Worker(
    QUEUE_INBOUND,
    async (job) => {
      const data = inboundJobSchema.parse(job.data);
      const attempt = job.attemptsMade + 1;
      if (!('spoolIds' in data)) {
        const outcome = await fileRow(data.spoolId, attempt);
        log.info({ event: 'inbound.filed', spoolId: data.spoolId, jobId: job.id, ...outcome });
        return outcome;
      }
      // The rows of one spool commit, filed together (their loads, filings and done marks share
      // the batchers above). A row that fails does not fail the others: the job keeps only the
      // failed rows and throws, so the retry (and the final "failed" mark) is theirs alone.
      const results = await Promise.allSettled(data.spoolIds.map((spoolId) => fileRow(spoolId, attempt)));
      const failed = data.spoolIds.filter((_, i) => results[i]!.status === 'rejected');
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') log.info({ event: 'inbound.filed', spoolId: data.spoolIds[i], jobId: job.id, ...r.value });
      });
      if (failed.length > 0) {
        const first = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
        if (failed.length < data.spoolIds.length) await job.updateData(inboundJobSchema.parse({ spoolIds: failed }));
        throw new Error(`spool rows ${failed.join(', ')}: ${(first.reason as Error).message}`);
      }
      return results.map((r) => (r as PromiseFulfilledResult<SpoolFilingOutcome>).value);
    },
    { connection: deps.connection, concurrency: options.filingWindow, autorun: false, lockDuration: options.lockMs ?? 30_000, stalledInterval: options.lockMs ?? 30_000 },
  );
  worker.on('failed', (job, err) => {
    const final = job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1);
    log.error({ event: final ? 'inbound.failed' : 'inbound.retry', jobId: job?.id, attempts: job?.attemptsMade, err: err.message });
    if (final && job) {
      const parsed = inboundJobSchema.safeParse(job.data);
      if (!parsed.success) return;
      const spool = createSpoolRepository(deps.db);
      for (const spoolId of inboundJobSpoolIds(parsed.data)) void spool.markFailed(spoolId, err.message, job.attemptsMade).catch(() => undefined);
    }
  });
  worker.on('error', (err) => log.warn({ event: 'inbound.worker_error', err: err.message }));

  // The search index stage: filed mail becomes searchable right after, in batches outside the
  // filing transactions; while filing is behind (more rows in progress than it parses at once:
  // they wait for it), filing comes first, for a few seconds at most (core's startSearchIndexer).
  let indexer: SearchIndexer | undefined;
  const runner = runWithReconciler(
    worker,
    'inbound',
    log,
    async () => {
      const n = await reconcileSpool(deps.db, (ids) => queue.enqueueEach(ids), options.reconcileAgeMs);
      if (n > 0) log.info({ event: 'inbound.reconciled', requeued: n });
    },
    options.reconcileIntervalMs,
  );

  return {
    worker,
    reconcile: runner.reconcile,
    async run() {
      await runner.start();
      indexer = startSearchIndexer(deps, { backlogged: () => rowsFiling.load > options.concurrency });
    },
    async close() {
      await runner.stop(); // waits for jobs in progress to finish
      await indexer?.stop();
      await queue.close();
    },
  };
}
