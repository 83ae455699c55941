import { describe, expect, it } from 'vitest';
import { KeyedSemaphore, Semaphore } from './semaphore.js';

describe('Semaphore', () => {
  it('lets `limit` holders in, queues the rest in order, and a double release frees one slot only', async () => {
    const sem = new Semaphore(2);
    const order: number[] = [];
    const a = await sem.acquire();
    const b = await sem.acquire();
    const waiting = [3, 4].map((n) => sem.acquire().then((release) => (order.push(n), release)));
    expect(sem.load).toBe(4);
    a();
    a(); // ignored
    const third = await waiting[0]!;
    expect(order).toEqual([3]);
    b();
    const fourth = await waiting[1]!;
    expect(order).toEqual([3, 4]);
    third();
    fourth();
    expect(sem.load).toBe(0);
  });

  it('keeps one semaphore per key', async () => {
    const sems = new KeyedSemaphore<string>(1);
    const x = await sems.acquire('x');
    const y = await sems.acquire('y'); // another key is not blocked
    let second = false;
    const pending = sems.acquire('x').then((release) => ((second = true), release));
    await Promise.resolve();
    expect(second).toBe(false);
    x();
    (await pending)();
    expect(second).toBe(true);
    y();
  });
});
