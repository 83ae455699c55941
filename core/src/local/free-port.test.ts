import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from './process-utils.js';

const saved = process.env.MAILYARD_PORT_RANGE;
afterEach(() => {
  if (saved === undefined) delete process.env.MAILYARD_PORT_RANGE;
  else process.env.MAILYARD_PORT_RANGE = saved;
});

describe('freePort', () => {
  it('takes ports from MAILYARD_PORT_RANGE when it is set: bindable, never the same one twice, never one in use', async () => {
    process.env.MAILYARD_PORT_RANGE = '23000-23100';
    // All but 11 of the range's 101 ports are in use: a pick that skipped the bind check or handed a port out twice fails.
    const busy = await Promise.all(Array.from({ length: 90 }, (_, i) => new Promise<net.Server>((resolve) => { const s = net.createServer(); s.listen(23000 + i, '127.0.0.1', () => resolve(s)); })));
    try {
      const ports = [];
      for (let i = 0; i < 11; i++) ports.push(await freePort());
      expect(ports.every((p) => p >= 23000 && p <= 23100)).toBe(true);
      expect(new Set(ports).size).toBe(ports.length);
      expect(ports).not.toContain(23050);
      expect(ports.every((p) => p >= 23090)).toBe(true);
      await expect(freePort()).rejects.toThrow(/no free port in MAILYARD_PORT_RANGE/);
    } finally {
      for (const s of busy) s.close();
    }
  });

  it('lets the kernel pick without it, and names the fix for a range that is not one', async () => {
    delete process.env.MAILYARD_PORT_RANGE;
    expect(await freePort()).toBeGreaterThan(0);
    process.env.MAILYARD_PORT_RANGE = '30000';
    await expect(freePort()).rejects.toThrow(/not a range like 20000-32000/);
    process.env.MAILYARD_PORT_RANGE = '30000-30010';
    await expect(freePort()).rejects.toThrow(/at least 100 ports/);
  });
});
