import { createHash } from 'node:crypto';
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { z } from 'zod';
import type { Logger } from '../log/logger.js';
import { EnqueueRetry } from './enqueue-retry.js';

/** Queue names and job payloads: jobs carry ids, never message bytes. */
export const QUEUE_INBOUND = 'inbound';

/**
 * An inbound job names the spool rows of one spool commit (`spoolIds`): the SMTP side adds one
 * job per group commit, not one per message. Jobs of the older shape (`spoolId`, one row) may
 * still be in Redis after an upgrade, and the reconciler still adds those (one per lost row).
 */
export const inboundJobSchema = z.union([
  z.object({ spoolIds: z.array(z.number().int().positive()).min(1) }),
  z.object({ spoolId: z.number().int().positive() }),
]);
export type InboundJob = z.infer<typeof inboundJobSchema>;

/** The spool rows a job (of either shape) names. */
export function inboundJobSpoolIds(job: InboundJob): number[] {
  return 'spoolIds' in job ? job.spoolIds : [job.spoolId];
}

/** Deterministic job id: enqueuing the same spool row twice while the first job lives is a no-op. */
export function inboundJobId(spoolId: number): string {
  return `spool-${spoolId}`;
}

/**
 * The id of the job of one spool commit: the row's own id for one row (so a reconciler
 * re-enqueue of it is a no-op), else named by the first row and the count, with a digest of all
 * ids: enqueuing the same rows again while the job lives is a no-op.
 */
export function inboundBatchJobId(spoolIds: readonly number[]): string {
  if (spoolIds.length === 1) return inboundJobId(spoolIds[0]!);
  const digest = createHash('sha256').update(spoolIds.join(',')).digest('hex').slice(0, 16);
  return `spool-${spoolIds[0]}+${spoolIds.length}-${digest}`;
}

export const inboundJobOptions: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 5000 },
};

export interface InboundQueue {
  /** One job for the rows of one spool commit. */
  enqueue(spoolIds: number[]): Promise<void>;
  /** One job per row (the reconciler: a row's re-enqueue is a no-op while its job lives). */
  enqueueEach(spoolIds: number[]): Promise<void>;
  close(): Promise<void>;
  queue: Queue;
}

export function createInboundQueue(connection: ConnectionOptions): InboundQueue {
  const queue = new Queue(QUEUE_INBOUND, { connection });
  // Surface connection errors through the enqueue promise; do not crash the process.
  queue.on('error', () => undefined);
  return {
    queue,
    async enqueue(spoolIds) {
      if (spoolIds.length === 0) return;
      await queue.add('ingest', inboundJobSchema.parse({ spoolIds }), { ...inboundJobOptions, jobId: inboundBatchJobId(spoolIds) });
    },
    async enqueueEach(spoolIds) {
      if (spoolIds.length === 0) return;
      await queue.addBulk(spoolIds.map((spoolId) => ({ name: 'ingest', data: inboundJobSchema.parse({ spoolId }), opts: { ...inboundJobOptions, jobId: inboundJobId(spoolId) } })));
    },
    async close() {
      await queue.close();
    },
  };
}

/**
 * Outbound: one job per (outbound message, recipient domain, attempt). The `deliveries` rows are
 * the truth (who is due, who is done); a job only tells a worker to look. The attempt number in
 * the id lets a retry be enqueued while the finished job of the previous attempt is still kept,
 * and makes the reconciler's re-enqueue of the same attempt a no-op.
 */
export const QUEUE_OUTBOUND = 'outbound';

export const outboundJobSchema = z.object({
  outboundId: z.number().int().positive(),
  domain: z.string().min(1).max(253),
  attempt: z.number().int().nonnegative(),
});
export type OutboundJob = z.infer<typeof outboundJobSchema>;

export function outboundJobId(job: OutboundJob): string {
  return `out-${job.outboundId}-${job.domain}-${job.attempt}`;
}

export const outboundJobOptions: JobsOptions = {
  // Retries are scheduled by the worker from the deliveries table, not by BullMQ backoff; a job
  // that throws (store away) is tried a few times, then the reconciler takes over.
  attempts: 5,
  backoff: { type: 'exponential', delay: 2_000 },
  // Finished jobs go at once: a kept job would make the reconciler's re-enqueue of the same id a
  // no-op (the deliveries table, not the queue, remembers what happened).
  removeOnComplete: true,
  removeOnFail: true,
};

export interface OutboundQueue {
  /** `delayMs`: run no earlier than that (a retry). */
  enqueue(jobs: OutboundJob[], delayMs?: number): Promise<void>;
  close(): Promise<void>;
  queue: Queue;
}

/**
 * With `log`, deliveries due now whose jobs Redis did not take (the message is recorded either
 * way, and `enqueue` still throws) are added again by this queue itself as soon as Redis answers
 * (EnqueueRetry); the outbound reconciler stays the net.
 */
export function createOutboundQueue(connection: ConnectionOptions, options: { log?: Logger } = {}): OutboundQueue {
  const queue = new Queue(QUEUE_OUTBOUND, { connection });
  queue.on('error', () => undefined);
  const add = async (jobs: OutboundJob[], delayMs: number) => {
    if (jobs.length === 0) return;
    await queue.addBulk(
      jobs.map((job) => ({ name: 'deliver', data: outboundJobSchema.parse(job), opts: { ...outboundJobOptions, jobId: outboundJobId(job), ...(delayMs > 0 ? { delay: delayMs } : {}) } })),
    );
  };
  const retries = options.log ? new EnqueueRetry<OutboundJob>({ enqueue: (jobs) => add(jobs, 0), keyOf: outboundJobId, log: options.log, recoveredEvent: 'outbound.enqueue_recovered' }) : null;
  return {
    queue,
    async enqueue(jobs, delayMs = 0) {
      try {
        await add(jobs, delayMs);
      } catch (err) {
        // A later attempt (delayMs > 0) waits for the reconciler: it is not due yet anyway.
        if (delayMs === 0) retries?.add(jobs);
        throw err;
      }
    },
    async close() {
      retries?.close();
      await queue.close();
    },
  };
}

/**
 * Scheduled send (undo send is a send scheduled a few seconds ahead): one delayed job per
 * `scheduled_sends` row, due at its send time. The row is the truth; the job only wakes the
 * outbound worker, and the reconciler re-enqueues a due row whose job was lost.
 */
export const QUEUE_SCHEDULED_SEND = 'scheduled-send';

export const scheduledSendJobSchema = z.object({ scheduledId: z.number().int().positive() });
export type ScheduledSendJob = z.infer<typeof scheduledSendJobSchema>;

export function scheduledSendJobId(scheduledId: number): string {
  return `scheduled-${scheduledId}`;
}

export const scheduledSendJobOptions: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: true,
  removeOnFail: true,
};

export interface ScheduledSendQueue {
  /** Wakes a worker for the row in `delayMs` (0: now). */
  enqueue(scheduledId: number, delayMs: number): Promise<void>;
  close(): Promise<void>;
  queue: Queue;
}

export function createScheduledSendQueue(connection: ConnectionOptions): ScheduledSendQueue {
  const queue = new Queue(QUEUE_SCHEDULED_SEND, { connection });
  queue.on('error', () => undefined);
  return {
    queue,
    async enqueue(scheduledId, delayMs) {
      await queue.add('send', scheduledSendJobSchema.parse({ scheduledId }), {
        ...scheduledSendJobOptions,
        jobId: scheduledSendJobId(scheduledId),
        ...(delayMs > 0 ? { delay: delayMs } : {}),
      });
    },
    async close() {
      await queue.close();
    },
  };
}
