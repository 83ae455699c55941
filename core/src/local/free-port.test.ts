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
    process.env.MAILYARD_PORT_RANGE = '23000-23199';
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(23100, '127.0.0.1', resolve));
    try {
      const ports = [];
      for (let i = 0; i < 60; i++) ports.push(await freePort());
      expect(ports.every((p) => p >= 23000 && p <= 23199)).toBe(true);
      expect(new Set(ports).size).toBe(ports.length);
      expect(ports).not.toContain(23100);
    } finally {
      busy.close();
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
