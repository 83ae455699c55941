import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../log/logger.js';
import { EnqueueRetry } from './enqueue-retry.js';

/** EnqueueRetry on its own, with Vitest's clock: when it tries, what it tries, and when it stops. */

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function retrying(options: { failures: number; maxItems?: number; batch?: number }) {
  const tries: Array<{ at: number; items: string[] }> = [];
  let failures = options.failures;
  const start = Date.now();
  const retry = new EnqueueRetry<string>({
    enqueue: async (items) => {
      tries.push({ at: Date.now() - start, items });
      if (failures-- > 0) throw new Error('Connection is closed.');
    },
    keyOf: (item) => item,
    log: silentLogger(),
    recoveredEvent: 'test.recovered',
    firstDelayMs: 100,
    maxItems: options.maxItems,
    batch: options.batch,
  });
  return { retry, tries };
}

describe('EnqueueRetry', () => {
  it('tries after 100 ms, doubling while it fails (capped at 10 s), an item added twice once, and stops once it worked', async () => {
    const { retry, tries } = retrying({ failures: 8 });
    retry.add(['a', 'b']);
    retry.add(['a']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tries.map((t) => t.at)).toEqual([100, 300, 700, 1_500, 3_100, 6_300, 12_700, 22_700, 32_700]);
    expect(tries.every((t) => t.items.join() === 'a,b')).toBe(true);
    // It worked: nothing left to try.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tries).toHaveLength(9);
  });

  it('starts again from the first wait after a success, keeps at most maxItems, and tries batch items at a time', async () => {
    const { retry, tries } = retrying({ failures: 1, maxItems: 3, batch: 2 });
    retry.add(['a', 'b', 'c', 'd']);
    await vi.advanceTimersByTimeAsync(10_000);
    // d was past the limit (the reconciler's); a and b failed once, then went; c after the first wait.
    expect(tries).toEqual([
      { at: 100, items: ['a', 'b'] },
      { at: 300, items: ['a', 'b'] },
      { at: 400, items: ['c'] },
    ]);
  });

  it('tries no more once closed, and takes nothing new', async () => {
    const { retry, tries } = retrying({ failures: Infinity });
    retry.add(['a']);
    await vi.advanceTimersByTimeAsync(350);
    expect(tries).toHaveLength(2);
    retry.close();
    retry.add(['b']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tries).toHaveLength(2);
  });
});
