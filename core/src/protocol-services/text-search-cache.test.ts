import { describe, expect, it } from 'vitest';
import { TextSearchCache } from './text-search-cache.js';

/** The cache's bookkeeping over a loader that records what it was asked (the real store: imap.store.test.ts). */
function loader(matching: number[]) {
  const asked: Array<[number, number]> = [];
  const load = async (after: number, upTo: number) => {
    asked.push([after, upTo]);
    return matching.filter((uid) => uid > after && uid <= upTo);
  };
  return { load, asked };
}

describe('TextSearchCache', () => {
  it('loads only the UIDs above what it holds, and answers a lower bound from what it holds', async () => {
    const cache = new TextSearchCache({ maxUids: 100, listWeight: 1 });
    const { load, asked } = loader([2, 5, 9, 12]);
    expect(await cache.search('k', 10, load)).toEqual([2, 5, 9]);
    expect(await cache.search('k', 14, load)).toEqual([2, 5, 9, 12]);
    expect(await cache.search('k', 6, load)).toEqual([2, 5]);
    expect(await cache.search('k', 14, load)).toEqual([2, 5, 9, 12]);
    expect(asked).toEqual([
      [0, 10],
      [10, 14],
    ]);
  });

  it('keeps the longer list when two searches of one key overlap', async () => {
    const cache = new TextSearchCache({ maxUids: 100, listWeight: 1 });
    const { load, asked } = loader([1, 3, 7]);
    const [a, b] = await Promise.all([cache.search('k', 8, load), cache.search('k', 4, load)]);
    expect([a, b]).toEqual([
      [1, 3, 7],
      [1, 3],
    ]);
    expect(await cache.search('k', 8, load)).toEqual([1, 3, 7]);
    expect(asked).toEqual([
      [0, 8],
      [0, 4],
    ]);
  });

  it('holds at most maxUids (listWeight more per list), dropping the least recently used; an answer larger than that is not kept', async () => {
    const cache = new TextSearchCache({ maxUids: 10, listWeight: 1 });
    const three = loader([1, 2, 3]);
    await cache.search('a', 3, three.load);
    await cache.search('b', 3, three.load);
    await cache.search('a', 3, three.load); // a is now the most recent
    await cache.search('c', 3, three.load); // 12 > 10: b goes
    expect(cache.size).toBe(8);
    await cache.search('a', 3, three.load);
    await cache.search('b', 3, three.load);
    expect(three.asked.filter(([after]) => after === 0)).toHaveLength(4); // a, b, c, then b again
    const big = loader(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await cache.search('big', 20, big.load)).toHaveLength(20);
    await cache.search('big', 20, big.load);
    expect(big.asked).toHaveLength(2);
    expect(cache.size).toBeLessThanOrEqual(10);
  });

  it('counts each list as listWeight besides its UIDs, so lists that matched nothing are bounded too', async () => {
    const cache = new TextSearchCache({ maxUids: 100 });
    const none = loader([]);
    for (let i = 0; i < 10; i++) await cache.search(`k${i}`, 5, none.load);
    expect(cache.size).toBe(96); // three lists of 32
    await cache.search('k9', 5, none.load);
    await cache.search('k0', 5, none.load);
    expect(none.asked).toHaveLength(11); // k9 held, k0 long gone
  });
});
