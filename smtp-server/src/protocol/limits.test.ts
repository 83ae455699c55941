import { describe, expect, it } from 'vitest';
import { ConnectionCounter, RateWindow } from './limits.js';

describe('ConnectionCounter', () => {
  it('refuses the connection over the per-IP limit and frees a slot on release', () => {
    const counter = new ConnectionCounter(2);
    expect(counter.tryAcquire('1.2.3.4')).toBe(true);
    expect(counter.tryAcquire('1.2.3.4')).toBe(true);
    expect(counter.tryAcquire('1.2.3.4')).toBe(false);
    expect(counter.tryAcquire('5.6.7.8')).toBe(true);
    counter.release('1.2.3.4');
    expect(counter.tryAcquire('1.2.3.4')).toBe(true);
  });
});

describe('RateWindow', () => {
  it('allows N events per window and forgets old ones', () => {
    let now = 0;
    const rate = new RateWindow(3, 1000, () => now);
    expect([rate.tryHit('a'), rate.tryHit('a'), rate.tryHit('a'), rate.tryHit('a')]).toEqual([true, true, true, false]);
    expect(rate.tryHit('b')).toBe(true);
    now = 1001;
    expect(rate.tryHit('a')).toBe(true);
  });
});
