import { describe, expect, it } from 'vitest';
import { replies } from '../protocol/replies.js';
import { RecipientCache } from './recipient-cache.js';

describe('RecipientCache', () => {
  it('keeps accepts and refusals for their own time, case-insensitively', () => {
    let now = 0;
    const cache = new RecipientCache({ acceptTtlMs: 100, rejectTtlMs: 10, maxEntries: 10 }, () => now);
    cache.set('Ann@A.test', { accept: true, userId: 1 });
    cache.set('nobody@a.test', { accept: false, reply: replies.unknownUser('nobody@a.test') });
    expect(cache.get('ann@a.test')).toEqual({ accept: true, userId: 1 });
    expect(cache.get('nobody@a.test')?.accept).toBe(false);
    now = 11;
    expect(cache.get('nobody@a.test')).toBeUndefined();
    expect(cache.get('ann@a.test')).toBeDefined();
    now = 101;
    expect(cache.get('ann@a.test')).toBeUndefined();
  });
  it('never grows past its size, dropping the oldest entry', () => {
    const cache = new RecipientCache({ acceptTtlMs: 1000, rejectTtlMs: 1000, maxEntries: 2 });
    cache.set('a@x.test', { accept: true, userId: 1 });
    cache.set('b@x.test', { accept: true, userId: 2 });
    cache.set('c@x.test', { accept: true, userId: 3 });
    expect(cache.get('a@x.test')).toBeUndefined();
    expect(cache.get('c@x.test')).toEqual({ accept: true, userId: 3 });
  });
});
