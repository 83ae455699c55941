import { describe, expect, it } from 'vitest';
import { WeightedLru } from './weighted-lru.js';

describe('WeightedLru', () => {
  it('drops the least recently used until the total weight fits, a hit counting as a use', () => {
    const lru = new WeightedLru<string, string>(10, (v) => v.length);
    lru.set('a', 'aaaa');
    lru.set('b', 'bbbb');
    expect(lru.get('a')).toBe('aaaa'); // b is now the oldest
    lru.set('c', 'cccc');
    expect([lru.get('a'), lru.get('b'), lru.get('c')]).toEqual(['aaaa', undefined, 'cccc']);
    expect([lru.size, lru.weight]).toEqual([2, 8]);
  });

  it('replaces a key (its old weight given back), refuses a value heavier than the budget, and empties on clear', () => {
    const lru = new WeightedLru<string, string>(10, (v) => v.length);
    lru.set('a', 'aaaaaa');
    lru.set('a', 'aa');
    expect(lru.weight).toBe(2);
    expect(lru.set('big', 'x'.repeat(11))).toBe(false);
    expect(lru.get('big')).toBeUndefined();
    expect(lru.set('a', 'y'.repeat(11))).toBe(false); // the old value is gone too: it was replaced
    expect([lru.get('a'), lru.size, lru.weight]).toEqual([undefined, 0, 0]);
    lru.set('b', 'bb');
    lru.delete('b');
    lru.set('c', 'cc');
    lru.clear();
    expect([lru.size, lru.weight]).toEqual([0, 0]);
  });
});
