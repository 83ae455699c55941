import { Worker, type ConnectionOptions } from 'bullmq';
import {
  createInboundQueue,
  createSpoolRepository,
  fileSpooled,
  inboundJobSchema,
  inboundJobSpoolIds,
  ingestMany,
  KeyedBatcher,
  QUEUE_INBOUND,
  reconcileSpool,
  resolveRecipient,
  runWithReconciler,
  Semaphore,
  type Db,
  type EventPublisher,
  type IngestInput,
  type IngestResult,
  type Logger,
  type RecipientVerdict,
  type SpooledMessage,
  type SpoolFilingOutcome,
} from '@mailyard/core';

/** How many filing transactions may run at once (see buildInboundWorker). */
const FILING_LANES = 2;

export interface InboundWorkerDeps {
  db: Db;
  events: EventPublisher;
  log: Logger;
  connection: ConnectionOptions;
}

export interface InboundWorkerOptions {
  concurrency: number;
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
  // Group commits: the filings that arrive together share one transaction, across users (a failed
  // batch is retried item by item), in FILING_LANES lanes by user so that a few transactions run at
  // once (lanes never share a user, so they never wait for each other's locks); "done" marks share one UPDATE.
  const filings = new KeyedBatcher<number, IngestInput, IngestResult>((_lane, inputs) => ingestMany(deps, inputs));
  type DoneMark = { id: number; note: string | null; attempts: number };
  const doneMarks = new KeyedBatcher<'done', DoneMark, void>(async (_key, rows) => {
    await createSpoolRepository(deps.db).markDoneMany(rows);
    return rows.map(() => undefined);
  }, 500);
  // Jobs that run together read their spool rows (with the bytes) in one query, and share the
  // lookup of a recipient that several of them are waiting for (each lookup starts after the
  // jobs it answers asked: never an older answer).
  const loads = new KeyedBatcher<'spool', number, SpooledMessage | null>(async (_key, ids) => {
    const rows = await createSpoolRepository(deps.db).getManyWithBlobs(ids);
    return ids.map((id) => rows.get(id) ?? null);
  });
  const lookups = new KeyedBatcher<string, string, RecipientVerdict>(async (rcpt, items) => {
    const verdict = await resolveRecipient(deps.db, rcpt);
    return items.map(() => verdict);
  });
  const jobDeps = {
    ...deps,
    file: (input: IngestInput) => filings.add(input.userId % FILING_LANES, input),
    markDone: (row: DoneMark) => doneMarks.add('done', row),
    load: (spoolId: number) => loads.add('spool', spoolId),
    resolve: (rcpt: string) => lookups.add(rcpt, rcpt),
  };
  // At most `concurrency` rows in flight (with their bytes in memory), whatever the jobs' sizes.
  const rowsInFlight = new Semaphore(options.concurrency);
  const fileRow = async (spoolId: number, attempt: number) => {
    const release = await rowsInFlight.acquire();
    try {
      return await fileSpooled(jobDeps, spoolId, attempt);
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
    { connection: deps.connection, concurrency: options.concurrency, autorun: false, lockDuration: options.lockMs ?? 30_000, stalledInterval: options.lockMs ?? 30_000 },
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
    run: runner.start,
    async close() {
      await runner.stop(); // waits for jobs in progress to finish
      await queue.close();
    },
  };
}
