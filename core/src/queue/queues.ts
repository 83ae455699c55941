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
