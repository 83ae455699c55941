import { Worker, type ConnectionOptions } from 'bullmq';
import {
  createInboundQueue,
  createSpoolRepository,
  fileSpooled,
  inboundJobSchema,
  ingestMany,
  KeyedBatcher,
  QUEUE_INBOUND,
  reconcileSpool,
  resolveRecipient,
  runWithReconciler,
  type Db,
  type EventPublisher,
  type IngestInput,
  type IngestResult,
  type Logger,
  type RecipientVerdict,
  type SpooledMessage,
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
 * The inbound worker: each job names a spool row, which core's fileSpooled files into the
 * recipients' mailboxes; a periodic reconcile (core's reconcileSpool) re-enqueues rows whose job
 * was lost.
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
  const worker = new Worker(
    QUEUE_INBOUND,
    async (job) => {
      const { spoolId } = inboundJobSchema.parse(job.data);
      const outcome = await fileSpooled(jobDeps, spoolId, job.attemptsMade + 1);
      log.info({ event: 'inbound.filed', spoolId, jobId: job.id, ...outcome });
      return outcome;
    },
    { connection: deps.connection, concurrency: options.concurrency, autorun: false, lockDuration: options.lockMs ?? 30_000, stalledInterval: options.lockMs ?? 30_000 },
  );
  worker.on('failed', (job, err) => {
    const final = job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1);
    log.error({ event: final ? 'inbound.failed' : 'inbound.retry', jobId: job?.id, attempts: job?.attemptsMade, err: err.message });
    if (final && job) {
      const parsed = inboundJobSchema.safeParse(job.data);
      if (parsed.success) void createSpoolRepository(deps.db).markFailed(parsed.data.spoolId, err.message, job.attemptsMade).catch(() => undefined);
    }
  });
  worker.on('error', (err) => log.warn({ event: 'inbound.worker_error', err: err.message }));

  const runner = runWithReconciler(
    worker,
    'inbound',
    log,
    async () => {
      const n = await reconcileSpool(deps.db, (ids) => queue.enqueue(ids), options.reconcileAgeMs);
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
