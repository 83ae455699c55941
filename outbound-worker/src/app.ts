import { randomBytes } from 'node:crypto';
import type { Resolver } from 'node:dns/promises';
import { Worker, type ConnectionOptions } from 'bullmq';
import {
  createOutboundQueue,
  createOutboundRepository,
  createScheduledSendQueue,
  createScheduledSendRepository,
  dueKey,
  KeyedBatcher,
  outboundJobSchema,
  QUEUE_OUTBOUND,
  QUEUE_SCHEDULED_SEND,
  runWithReconciler,
  scheduledSendJobSchema,
  sendHeld,
  Semaphore,
  type ClaimedWork,
  type Db,
  type DeliveryOutcome,
  type DueKey,
  type EventPublisher,
  type Logger,
  type SecretBox,
} from '@mailyard/core';
import { createDestinationCache } from './delivery/destination-cache.js';
import { DkimSigner } from './delivery/dkim-signer.js';
import { SmtpPool } from './delivery/smtp-pool.js';
import { fileDelayWarning, fileOwedDsn } from './jobs/bounce.job.js';
import { deliverDue, type DeliverSettings } from './jobs/deliver.job.js';

export interface OutboundWorkerDeps {
  db: Db;
  events: EventPublisher;
  log: Logger;
  connection: ConnectionOptions;
  /** DNS_SERVERS applied: MX and address lookups go through it, never through dns.lookup. */
  resolver: Resolver;
  /** Opens the sealed DKIM private keys (the backend's SECRET_KEY or DATA_DIR/secret.key). */
  secrets: SecretBox;
}

export interface OutboundWorkerOptions extends DeliverSettings {
  concurrency: number;
  /** EHLO name, Reporting-MTA of DSNs. */
  hostname: string;
  /** Port of remote MX hosts (25; tests map it elsewhere). */
  smtpPort: number;
  connectTimeoutMs: number;
  socketTimeoutMs: number;
  reconcileIntervalMs: number;
  /** Transactions at once to one remote host address (default 20). */
  maxConnectionsPerHost?: number;
  /** Deliver to loopback/private/link-local addresses (OUTBOUND_ALLOW_PRIVATE); refused by default. */
  allowPrivate?: boolean;
  /** Messages over 256 KiB held in memory at once (default 8). */
  largeMessagesInMemory?: number;
}

/**
 * The outbound worker: BullMQ jobs name (message, domain, attempt); the deliveries table says who
 * is due. After an attempt, deferred recipients get a delayed job for their next attempt; a
 * periodic reconcile re-enqueues what is due but has no job (Redis lost it, a worker died
 * holding a lease) and files DSNs still owed. It also sends held messages (undo send, scheduled
 * send: core/src/mail/scheduled-send.ts) when their `scheduled-send` job comes due, and its
 * reconcile pass sends due ones whose job was lost.
 */
export function buildOutboundWorker(deps: OutboundWorkerDeps, options: OutboundWorkerOptions) {
  const { log } = deps;
  const queue = createOutboundQueue(deps.connection, { log });
  const deliveries = createOutboundRepository(deps.db);
  const pool = new SmtpPool({
    hostname: options.hostname,
    port: options.smtpPort,
    connectTimeoutMs: options.connectTimeoutMs,
    socketTimeoutMs: options.socketTimeoutMs,
    maxConnectionsPerHost: options.maxConnectionsPerHost,
    log,
  });
  // Who holds a lease (the first half of its token; the attempt count is the second): this process.
  const leaseOwner = `${options.hostname}/${process.pid}/${randomBytes(4).toString('hex')}`;
  // Group commit: the claims of jobs that start together share one statement, so do their outcomes.
  const claims = new KeyedBatcher<'claim', DueKey, ClaimedWork | null>(async (_k, keys) => {
    const work = await deliveries.claimDueBatch(keys, options.leaseMs, leaseOwner);
    return keys.map((k) => work.get(dueKey(k)) ?? null);
  }, 200, 2);
  const outcomes = new KeyedBatcher<'record', DeliveryOutcome[], number[]>(async (_k, lists) => {
    const fenced = new Set((await deliveries.recordOutcomes(lists.flat())).fenced);
    return lists.map((list) => list.filter((o) => fenced.has(o.deliveryId)).map((o) => o.deliveryId));
  }, 200, 2);
  const largeMessages = new Semaphore(options.largeMessagesInMemory ?? 8);
  const jobDeps = {
    ...deps,
    pool,
    signer: new DkimSigner({ db: deps.db, secrets: deps.secrets, log }),
    destination: createDestinationCache(deps.resolver, { allowPrivate: options.allowPrivate }),
    // Messages over the inline limit (256 KiB) are loaded only with one of these slots: a 25 MB
    // attachment sent to many domains cannot fill the worker's memory.
    loadLarge: async (outboundId: number) => {
      const release = await largeMessages.acquire();
      try {
        return { raw: await deliveries.loadBytes(outboundId), release };
      } catch (err) {
        release();
        throw err;
      }
    },
    claim: (key: DueKey) => claims.add('claim', key),
    record: (list: DeliveryOutcome[]) => outcomes.add('record', list),
  };

  const worker = new Worker(
    QUEUE_OUTBOUND,
    async (job) => {
      const { outboundId, domain } = outboundJobSchema.parse(job.data);
      const outcome = await deliverDue(jobDeps, options, outboundId, domain);
      if (outcome.claimed > 0) log.info({ event: 'outbound.attempt', outboundId, domain, jobId: job.id, ...outcome });
      if (outcome.retryAt) {
        await queue.enqueue([{ outboundId, domain, attempt: outcome.attempts }], Math.max(0, outcome.retryAt.getTime() - Date.now()));
      }
      if (outcome.owesDsn) await fileOwedDsn(deps, options.hostname, outboundId);
      if (outcome.delayed.length > 0) await fileDelayWarning(deps, options.hostname, outboundId, outcome.delayed, outcome.expiresAt!);
      return outcome;
    },
    {
      connection: deps.connection,
      concurrency: options.concurrency,
      autorun: false,
      // A job runs as long as one SMTP transaction; a crashed worker's job is retaken after this.
      lockDuration: Math.min(options.leaseMs, 5 * 60_000),
    },
  );
  worker.on('failed', (job, err) => log.error({ event: 'outbound.job_failed', jobId: job?.id, attempts: job?.attemptsMade, err: err.message }));
  worker.on('error', (err) => log.warn({ event: 'outbound.worker_error', err: err.message }));

  // Held messages: the job wakes the worker at the send time; sendHeld locks the row, so a row
  // raced for by two workers or a reconcile pass is sent once.
  const scheduledQueue = createScheduledSendQueue(deps.connection);
  const held = createScheduledSendRepository(deps.db);
  const sendDeps = { db: deps.db, events: deps.events, log, outbound: queue };
  const scheduledWorker = new Worker(
    QUEUE_SCHEDULED_SEND,
    async (job) => {
      const { scheduledId } = scheduledSendJobSchema.parse(job.data);
      const sent = await sendHeld(sendDeps, scheduledId);
      if (sent) log.info({ event: 'outbound.scheduled_sent', scheduledId, outboundId: sent.outboundId });
      return sent ? 'sent' : 'skipped';
    },
    { connection: deps.connection, concurrency: Math.max(1, Math.ceil(options.concurrency / 4)), autorun: false },
  );
  scheduledWorker.on('failed', (job, err) => log.warn({ event: 'outbound.scheduled_job_failed', jobId: job?.id, attempts: job?.attemptsMade, err: err.message }));
  scheduledWorker.on('error', (err) => log.warn({ event: 'outbound.scheduled_worker_error', err: err.message }));
  const scheduledRunner = runWithReconciler(
    scheduledWorker,
    'outbound.scheduled',
    log,
    async () => {
      // Due for a while and still pending: its job was lost (Redis restarted) or gave up.
      const overdue = await held.listOverdue(options.reconcileIntervalMs);
      for (const scheduledId of overdue) await scheduledQueue.enqueue(scheduledId, 0);
      if (overdue.length > 0) log.info({ event: 'outbound.scheduled_reconciled', requeued: overdue.length });
    },
    options.reconcileIntervalMs,
  );

  const runner = runWithReconciler(
    worker,
    'outbound',
    log,
    async () => {
      const stalled = await deliveries.listStalled(options.reconcileIntervalMs);
      if (stalled.length > 0) {
        await queue.enqueue(stalled.map((s) => ({ outboundId: s.outboundId, domain: s.domain, attempt: s.attempts })));
        log.info({ event: 'outbound.reconciled', requeued: stalled.length });
      }
      for (const outboundId of await deliveries.listOwedDsns()) await fileOwedDsn(deps, options.hostname, outboundId);
    },
    options.reconcileIntervalMs,
  );

  return {
    worker,
    queue,
    scheduledWorker,
    scheduledQueue,
    reconcile: async () => {
      await runner.reconcile();
      await scheduledRunner.reconcile();
    },
    async run() {
      await runner.start();
      await scheduledRunner.start();
    },
    async close() {
      await scheduledRunner.stop();
      await runner.stop();
      await pool.close();
      await scheduledQueue.close();
      await queue.close();
    },
  };
}
