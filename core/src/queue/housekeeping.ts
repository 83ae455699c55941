import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Logger } from '../log/logger.js';

/**
 * Housekeeping: periodic work that must run once per deployment, not once per replica (the Trash
 * purge, the upload sweep, the spool purge, the outbound purge, the blob reclaim). Each task is a BullMQ job scheduler
 * whose id is the task's name, on the task's own queue `housekeeping-<name>`. Every replica that
 * can run a task upserts the same scheduler (no duplicate) and runs a worker on that queue; each
 * period makes one job, and one worker takes it.
 *
 * One queue per task, not one for all: a BullMQ worker takes every job of its queue, and not
 * every service can run every task (the upload sweep needs the files in the backend's DATA_DIR).
 *
 * The first run comes as soon as the scheduler is first created, then one every `everyMs`; a
 * replica that restarts keeps the schedule (upserting the same scheduler adds no run). A run that
 * throws is logged (`housekeeping.failed`) and the task runs again the next period.
 *
 * To add a task: write a `HousekeepingTask` in core/src/housekeeping/ and pass it to
 * `startHousekeeping` in the service (or services) that can run it.
 */

export interface HousekeepingTask {
  /** Stable and kebab-case: the scheduler id, and the queue is `housekeeping-<name>`. */
  name: string;
  /** One run per this many milliseconds, in the whole deployment. */
  everyMs: number;
  /** One run; what it returns (counts) is logged with `housekeeping.done`. */
  run(): Promise<Record<string, number>>;
}

export function housekeepingQueueName(taskName: string): string {
  return `housekeeping-${taskName}`;
}

/** Finished runs kept in Redis per task, for inspection. */
const KEEP_RUNS = 50;

/**
 * Schedules `tasks` (idempotently) and runs a worker for each in this process. Resolves once
 * every scheduler is in place; if that fails, closes what it opened and rejects. `stop()` waits
 * for runs in progress.
 */
export async function startHousekeeping(deps: { connection: ConnectionOptions; log: Logger }, tasks: readonly HousekeepingTask[]): Promise<{ stop(): Promise<void> }> {
  const running: Array<{ queue: Queue; worker: Worker }> = [];
  const stop = async () => {
    const all = running.splice(0);
    await Promise.all(all.map((r) => r.worker.close()));
    await Promise.all(all.map((r) => r.queue.close()));
  };
  try {
    for (const task of tasks) {
      const log = deps.log.child({ task: task.name });
      const queue = new Queue(housekeepingQueueName(task.name), { connection: deps.connection });
      queue.on('error', (err) => log.warn({ event: 'housekeeping.queue_error', err: err.message }));
      const worker = new Worker(
        housekeepingQueueName(task.name),
        async () => {
          const result = await task.run();
          log.info({ event: 'housekeeping.done', ...result });
          return result;
        },
        { connection: deps.connection, concurrency: 1 },
      );
      worker.on('failed', (_job, err) => log.warn({ event: 'housekeeping.failed', err: err.message }));
      worker.on('error', (err) => log.warn({ event: 'housekeeping.worker_error', err: err.message }));
      running.push({ queue, worker });
      await queue.upsertJobScheduler(task.name, { every: task.everyMs }, { name: task.name, opts: { removeOnComplete: { count: KEEP_RUNS }, removeOnFail: { count: KEEP_RUNS } } });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
