import { UnrecoverableError, Worker, type ConnectionOptions } from 'bullmq';
import { performLearn, QUEUE_SPAM_LEARN, SpamLearnError, spamLearnJobSchema, type Db, type Logger, type SpamEngine } from '@mailyard/core';

/**
 * The `spam-learn` jobs (core/src/mail/spam/learn.ts), run by the inbound worker when a spam
 * engine is configured (RSPAMD_URL): each job's message, loaded through its owner, is taught to
 * the engine as spam or ham. The engine away: the job retries with backoff; the engine refusing
 * that message: it stops (UnrecoverableError); the message deleted since: done, nothing learned.
 */

export interface SpamLearnWorkerDeps {
  db: Db;
  engine: SpamEngine;
  log: Logger;
  connection: ConnectionOptions;
}

export function buildSpamLearnWorker(deps: SpamLearnWorkerDeps, options: { concurrency?: number } = {}) {
  const { log } = deps;
  const worker = new Worker(
    QUEUE_SPAM_LEARN,
    async (job) => {
      const data = spamLearnJobSchema.parse(job.data);
      try {
        const outcome = await performLearn(deps, data);
        log.info({ event: 'spam.learned', jobId: job.id, userId: data.userId, messageId: data.messageId, kind: data.kind, outcome });
        return outcome;
      } catch (err) {
        if (err instanceof SpamLearnError && err.permanent) throw new UnrecoverableError(err.message);
        throw err;
      }
    },
    { connection: deps.connection, concurrency: options.concurrency ?? 4, autorun: false },
  );
  worker.on('failed', (job, err) => {
    const final = job !== undefined && (err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1));
    log.warn({ event: final ? 'spam.learn_failed' : 'spam.learn_retry', jobId: job?.id, attempts: job?.attemptsMade, err: err.message });
  });
  worker.on('error', (err) => log.warn({ event: 'spam.learn_worker_error', err: err.message }));
  return {
    worker,
    async run() {
      void worker.run();
      await worker.waitUntilReady();
    },
    /** Waits for the learns in progress. */
    async close() {
      await worker.close();
    },
  };
}
