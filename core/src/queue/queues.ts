import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { z } from 'zod';

/** Queue names and job payloads: jobs carry ids, never message bytes. */
export const QUEUE_INBOUND = 'inbound';

export const inboundJobSchema = z.object({ spoolId: z.number().int().positive() });
export type InboundJob = z.infer<typeof inboundJobSchema>;

/** Deterministic job id: enqueuing the same spool row twice while the first job lives is a no-op. */
export function inboundJobId(spoolId: number): string {
  return `spool-${spoolId}`;
}

export const inboundJobOptions: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 5000 },
};

export interface InboundQueue {
  enqueue(spoolIds: number[]): Promise<void>;
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
      await queue.addBulk(spoolIds.map((spoolId) => ({ name: 'ingest', data: inboundJobSchema.parse({ spoolId }), opts: { ...inboundJobOptions, jobId: inboundJobId(spoolId) } })));
    },
    async close() {
      await queue.close();
    },
  };
}

/**
 * Outbound: one job per (sent message, recipient domain). The job names the sender's Sent copy
 * by id; the worker reads the bytes from the store.
 */
export const QUEUE_OUTBOUND = 'outbound';

export const outboundJobSchema = z.object({
  sentMessageId: z.number().int().positive(),
  userId: z.number().int().positive(),
  domain: z.string().min(1).max(253),
  recipients: z.array(z.string().min(3).max(320)).min(1),
});
export type OutboundJob = z.infer<typeof outboundJobSchema>;

/** Deterministic job id: enqueuing the same message for the same domain twice is a no-op. */
export function outboundJobId(sentMessageId: number, domain: string): string {
  return `out-${sentMessageId}-${domain}`;
}

/** The retry schedule (hours to days) belongs to the outbound worker's issue; jobs are kept until then. */
export const outboundJobOptions: JobsOptions = {
  removeOnComplete: { count: 1000 },
  removeOnFail: false,
};

export interface OutboundQueue {
  enqueue(jobs: OutboundJob[]): Promise<void>;
  close(): Promise<void>;
  queue: Queue;
}

export function createOutboundQueue(connection: ConnectionOptions): OutboundQueue {
  const queue = new Queue(QUEUE_OUTBOUND, { connection });
  queue.on('error', () => undefined);
  return {
    queue,
    async enqueue(jobs) {
      if (jobs.length === 0) return;
      await queue.addBulk(
        jobs.map((job) => ({ name: 'deliver', data: outboundJobSchema.parse(job), opts: { ...outboundJobOptions, jobId: outboundJobId(job.sentMessageId, job.domain) } })),
      );
    },
    async close() {
      await queue.close();
    },
  };
}
