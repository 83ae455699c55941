import { Worker, parentPort } from 'node:worker_threads';
import { AppError } from '../errors.js';

/**
 * A small fixed-size pool of worker threads, for CPU-heavy work that must not stall the event
 * loop (parsing and sanitizing a large message). Tasks are taken in order by the first idle
 * worker; at most `maxQueue` wait, beyond that `run` fails at once with `worker_pool.busy` (503),
 * so a flood of heavy requests cannot pile up memory. A task that throws gives its caller the
 * error (its AppError code kept, `worker_pool.task_failed` otherwise); a worker that dies fails
 * its task with `worker_pool.crashed` and is replaced. Workers are unref'd: an idle pool does not
 * keep the process alive.
 *
 * The worker module calls `serveWorkerTasks(handler)`. When the module is TypeScript (tests run
 * core from its sources), the worker starts through `ts-source-worker.mjs`, which compiles the
 * sources as they load.
 */

export interface WorkerPoolOptions {
  /** The worker's module: it calls `serveWorkerTasks`. */
  module: URL;
  size: number;
  maxQueue: number;
}

export interface WorkerPoolStats {
  workers: number;
  /** Workers running a task. */
  busy: number;
  /** Tasks waiting for a worker. */
  queued: number;
}

export interface WorkerPool<I, O> {
  run(input: I): Promise<O>;
  stats(): WorkerPoolStats;
  /** Fails waiting and running tasks with `worker_pool.closed` and stops the workers. */
  close(): Promise<void>;
}

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { code: string; message: string } };

interface Task {
  id: number;
  input: unknown;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  task: Task | null;
}

function startWorker(module: URL): Worker {
  const worker = module.pathname.endsWith('.ts')
    ? new Worker(new URL('./ts-source-worker.mjs', import.meta.url), { workerData: { module: module.href } })
    : new Worker(module);
  worker.unref();
  return worker;
}

export function createWorkerPool<I, O>(options: WorkerPoolOptions): WorkerPool<I, O> {
  const slots: Slot[] = [];
  const queue: Task[] = [];
  let nextId = 1;
  let closed = false;

  function dispatch(slot: Slot): void {
    const task = queue.shift();
    if (!task) return;
    slot.task = task;
    slot.worker.postMessage({ id: task.id, input: task.input });
  }

  function addWorker(slot?: Slot): Slot {
    const worker = startWorker(options.module);
    const s = slot ?? { worker, task: null };
    s.worker = worker;
    let failure = 'the worker exited';
    worker.on('message', (reply: Reply) => {
      const task = s.task;
      if (!task || task.id !== reply.id) return;
      s.task = null;
      if (reply.ok) task.resolve(reply.value);
      else task.reject(new AppError(reply.error.code, reply.error.message, 500));
      dispatch(s);
    });
    worker.on('error', (err) => {
      failure = err.message;
    });
    worker.on('exit', () => {
      if (closed || s.worker !== worker) return;
      const task = s.task;
      s.task = null;
      task?.reject(new AppError('worker_pool.crashed', `a worker died while running this task: ${failure}`, 500));
      addWorker(s);
      dispatch(s);
    });
    return s;
  }

  for (let i = 0; i < options.size; i++) slots.push(addWorker());

  return {
    run(input) {
      if (closed) return Promise.reject(new AppError('worker_pool.closed', 'the worker pool is closed', 503));
      const idle = slots.find((s) => s.task === null);
      if (!idle && queue.length >= options.maxQueue) return Promise.reject(new AppError('worker_pool.busy', 'too much work is waiting; try again shortly', 503));
      return new Promise<O>((resolve, reject) => {
        queue.push({ id: nextId++, input, resolve: resolve as (value: unknown) => void, reject });
        if (idle) dispatch(idle);
      });
    },
    stats() {
      return { workers: slots.length, busy: slots.filter((s) => s.task !== null).length, queued: queue.length };
    },
    async close() {
      if (closed) return;
      closed = true;
      const error = new AppError('worker_pool.closed', 'the worker pool is closed', 503);
      for (const task of queue.splice(0)) task.reject(error);
      for (const slot of slots) slot.task?.reject(error);
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}

/** In a pool's worker module: answer each task with `handler`'s result or its error. */
export function serveWorkerTasks<I, O>(handler: (input: I) => O | Promise<O>): void {
  const port = parentPort;
  if (!port) throw new Error('serveWorkerTasks runs only inside a worker thread');
  port.on('message', async ({ id, input }: { id: number; input: I }) => {
    let reply: Reply;
    try {
      reply = { id, ok: true, value: await handler(input) };
    } catch (err) {
      const code = err instanceof AppError ? err.code : 'worker_pool.task_failed';
      reply = { id, ok: false, error: { code, message: err instanceof Error ? err.message : String(err) } };
    }
    port.postMessage(reply);
  });
}
