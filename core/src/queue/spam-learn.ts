import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { z } from 'zod';

/**
 * `spam-learn`: one job per message the user moved into Junk (learn spam) or out of it (learn
 * ham), processed by the inbound worker (core/src/mail/spam/learn.ts). The job carries ids; the
 * worker loads the bytes, owner-scoped. The job id is `<kind>-<messageId>` (BullMQ ids may not hold `:`), so moving the same
 * message twice while the first job is kept learns it once.
 */
export const QUEUE_SPAM_LEARN = 'spam-learn';

export const spamLearnJobSchema = z.object({
  userId: z.number().int().positive(),
  messageId: z.number().int().positive(),
  kind: z.enum(['spam', 'ham']),
});
export type SpamLearnJob = z.infer<typeof spamLearnJobSchema>;

export function spamLearnJobId(job: Pick<SpamLearnJob, 'kind' | 'messageId'>): string {
  return `${job.kind}-${job.messageId}`;
}

export const spamLearnJobOptions: JobsOptions = {
  // rspamd away for a while (restart, upgrade): retried for about an hour, then given up.
  attempts: 10,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

/** Enqueues learn jobs; what `requestLearn` (core/src/mail/spam/learn.ts) writes to. */
export interface SpamLearnQueue {
  enqueue(jobs: SpamLearnJob[]): Promise<void>;
  close(): Promise<void>;
  queue: Queue;
}

export function createSpamLearnQueue(connection: ConnectionOptions): SpamLearnQueue {
  const queue = new Queue(QUEUE_SPAM_LEARN, { connection });
  queue.on('error', () => undefined);
  return {
    queue,
    async enqueue(jobs) {
      if (jobs.length === 0) return;
      await queue.addBulk(jobs.map((job) => ({ name: job.kind, data: spamLearnJobSchema.parse(job), opts: { ...spamLearnJobOptions, jobId: spamLearnJobId(job) } })));
    },
    async close() {
      await queue.close();
    },
  };
}
