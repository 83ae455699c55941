import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { limitHeapGrowth } from './heap.js';

/** One object of about 64 KB in the V8 heap (a packed array of small integers), not a Buffer. */
const chunk = (n: number) => new Array<number>(8192).fill(n);
const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_size;

/**
 * What a service under a backlog does to its heap: ~10 MB that stays alive, and ~250 MB of
 * objects that each stay alive long enough (a window of ~16 MB) to reach the old generation,
 * then die there. Returns the old generation's largest size meanwhile.
 */
function backlogLikeLoad(): number {
  const retained = Array.from({ length: 160 }, (_, i) => chunk(i));
  const window: number[][] = [];
  let peak = 0;
  for (let i = 0; i < 4000; i++) {
    window.push(chunk(i));
    if (window.length > 256) window.shift();
    if (i % 64 === 0) peak = Math.max(peak, oldSpace());
  }
  return retained.length + window.length > 0 ? peak : 0; // both sets stay reachable to the end
}

describe('limitHeapGrowth', () => {
  // vitest runs each test file in its own process, so the flag stays in this file.
  it('keeps the old generation well below what V8 lets it reach by itself under the same load', async () => {
    await limitHeapGrowth();
    const limited = backlogLikeLoad();
    // The same load again with V8's own growth factor (0: the default, up to 4× what survived).
    // It runs second so that it starts from the limited run's small heap, not the reverse.
    await limitHeapGrowth(0);
    const unlimited = backlogLikeLoad();
    expect(limited).toBeLessThan(unlimited * 0.7);
  });
});
