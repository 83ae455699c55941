import { describe, expect, it } from 'vitest';
import { ConnectionCounter, RateWindow, Semaphore } from './limits.js';

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

describe('Semaphore', () => {
  it('runs at most N tasks at once, starts the waiting ones in order, and frees the place of a task that throws', async () => {
    const gate = new Semaphore(2);
    const running = new Set<string>();
    const started: string[] = [];
    let peak = 0;
    const releases = new Map<string, () => void>();
    const task = (name: string, fail = false) =>
      gate.run(async () => {
        running.add(name);
        started.push(name);
        peak = Math.max(peak, running.size);
        await new Promise<void>((resolve) => releases.set(name, resolve));
        running.delete(name);
        if (fail) throw new Error(`${name} failed`);
        return name;
      });
    const results = [task('a', true), task('b'), task('c'), task('d')].map((p) => p.catch((err: Error) => err.message));
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    await settle();
    expect(started).toEqual(['a', 'b']);
    releases.get('a')!();
    await settle();
    expect(started).toEqual(['a', 'b', 'c']);
    releases.get('b')!();
    await settle();
    releases.get('c')!();
    await settle();
    releases.get('d')!();
    expect(await Promise.all(results)).toEqual(['a failed', 'b', 'c', 'd']);
    expect(peak).toBe(2);
  });
});
