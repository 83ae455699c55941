import type { Worker } from 'bullmq';
import type { Logger } from '../log/logger.js';

/**
 * How both workers run: the BullMQ worker, plus a reconcile pass (the store is the truth; the
 * reconcile re-queues what is due but has no job) once at start and then every `intervalMs`.
 * A failed pass is logged as `<name>.reconcile_failed` and tried again at the next interval.
 */
export function runWithReconciler(worker: Worker, name: string, log: Logger, reconcile: () => Promise<void>, intervalMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const pass = async () => {
    try {
      await reconcile();
    } catch (err) {
      log.warn({ event: `${name}.reconcile_failed`, err: (err as Error).message });
    }
  };
  return {
    reconcile: pass,
    async start() {
      void worker.run();
      await worker.waitUntilReady();
      await pass();
      timer = setInterval(() => void pass(), intervalMs);
      timer.unref();
    },
    /** Stops the passes and closes the worker, waiting for the jobs in progress. */
    async stop() {
      clearInterval(timer);
      await worker.close();
    },
  };
}
