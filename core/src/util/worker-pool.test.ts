import { afterEach, describe, expect, it } from 'vitest';
import { isMainThread } from 'node:worker_threads';
import type { PoolTestTask } from '../../../tests/helpers/pool-test-worker.js';
import { createWorkerPool, type WorkerPool } from './worker-pool.js';

const module = new URL('../../../tests/helpers/pool-test-worker.ts', import.meta.url);
let pool: WorkerPool<PoolTestTask, unknown>;

afterEach(async () => {
  await pool.close();
});

/** A latch a blocked task waits on; `release()` lets it finish. */
function latch() {
  const until = new SharedArrayBuffer(4);
  return {
    until,
    release() {
      Atomics.store(new Int32Array(until), 0, 1);
      Atomics.notify(new Int32Array(until), 0);
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('worker pool', () => {
  it('runs tasks on worker threads', async () => {
    pool = createWorkerPool({ module, size: 2, maxQueue: 4 });
    expect(isMainThread).toBe(true);
    expect(await Promise.all([pool.run({ do: 'echo', value: 'a' }), pool.run({ do: 'echo', value: 'b' }), pool.run({ do: 'echo', value: 'c' })])).toEqual([
      'a from a worker',
      'b from a worker',
      'c from a worker',
    ]);
  });

  it('gives a task that throws its error, with its code, and keeps serving', async () => {
    pool = createWorkerPool({ module, size: 1, maxQueue: 4 });
    await expect(pool.run({ do: 'throw' })).rejects.toMatchObject({ code: 'test.refused', message: 'refused on purpose' });
    expect(await pool.run({ do: 'echo', value: 'next' })).toBe('next from a worker');
  });

  it('fails the task of a worker that dies, replaces the worker and runs what was waiting', async () => {
    pool = createWorkerPool({ module, size: 1, maxQueue: 4 });
    const crashed = pool.run({ do: 'crash' });
    const waiting = pool.run({ do: 'echo', value: 'after' });
    await expect(crashed).rejects.toMatchObject({ code: 'worker_pool.crashed' });
    expect(await waiting).toBe('after from a worker');
    expect(pool.stats()).toEqual({ workers: 1, busy: 0, queued: 0 });
  });

  it('refuses work beyond its queue with worker_pool.busy, and takes it again once there is room', async () => {
    pool = createWorkerPool({ module, size: 1, maxQueue: 1 });
    const gate = latch();
    const blocked = pool.run({ do: 'block', until: gate.until });
    const queued = pool.run({ do: 'echo', value: 'queued' });
    await expect(pool.run({ do: 'echo', value: 'refused' })).rejects.toMatchObject({ code: 'worker_pool.busy', status: 503 });
    expect(pool.stats()).toEqual({ workers: 1, busy: 1, queued: 1 });
    gate.release();
    expect(await blocked).toBe('released');
    expect(await queued).toBe('queued from a worker');
    await until(() => pool.stats().busy === 0);
    expect(await pool.run({ do: 'echo', value: 'again' })).toBe('again from a worker');
  });

  it('keeps the event loop free while a worker is busy', async () => {
    pool = createWorkerPool({ module, size: 1, maxQueue: 1 });
    const gate = latch();
    let done = false;
    const blocked = pool.run({ do: 'block', until: gate.until }).then((v) => ((done = true), v));
    // The main thread goes on turning (timers fire) while the worker is held.
    await until(() => pool.stats().busy === 1);
    await new Promise((r) => setTimeout(r, 1));
    expect(done).toBe(false);
    gate.release();
    expect(await blocked).toBe('released');
  });

  it('fails waiting and running tasks when closed', async () => {
    pool = createWorkerPool({ module, size: 1, maxQueue: 2 });
    const gate = latch();
    const running = expect(pool.run({ do: 'block', until: gate.until })).rejects.toMatchObject({ code: 'worker_pool.closed' });
    const waiting = expect(pool.run({ do: 'echo', value: 'x' })).rejects.toMatchObject({ code: 'worker_pool.closed' });
    await until(() => pool.stats().busy === 1);
    await pool.close();
    await running;
    await waiting;
    await expect(pool.run({ do: 'echo', value: 'y' })).rejects.toMatchObject({ code: 'worker_pool.closed' });
  });
});
