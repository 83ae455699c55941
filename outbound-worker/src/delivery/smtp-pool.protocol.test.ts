import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@mailyard/core';
import { SmtpPool } from './smtp-pool.js';

/**
 * The pool against a real SMTP server (the smtp-server library on loopback) that holds each
 * message a moment and counts sessions: how many transactions run at once per host, and how
 * connections are reused.
 */
let server: SMTPServer;
let port: number;
let active = 0;
let peak = 0;
let sessions = 0;
let received = 0;

beforeAll(async () => {
  server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onConnect(_session, cb) {
      sessions++;
      cb();
    },
    onData(stream, _session, cb) {
      active++;
      peak = Math.max(peak, active);
      stream.resume();
      stream.on('end', () =>
        setTimeout(() => {
          active--;
          received++;
          cb();
        }, 30),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('SmtpPool', () => {
  it('runs at most maxConnectionsPerHost transactions to one host at once, and reuses the connections', async () => {
    const pool = new SmtpPool({ hostname: 'mx.test', port, connectTimeoutMs: 5_000, socketTimeoutMs: 10_000, maxConnectionsPerHost: 3, log: silentLogger() });
    try {
      const raw = Buffer.from('From: a@a.test\r\nTo: b@b.test\r\nSubject: x\r\n\r\nhello\r\n');
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => pool.deliver({ ip: '127.0.0.1', exchange: 'localhost' }, { from: 'a@a.test', to: [`b${i}@b.test`] }, raw)));
      expect(results.every((r) => r.kind === 'answered' && r.results[0]!.verdict === 'delivered')).toBe(true);
      expect(received).toBe(12);
      expect(peak).toBeLessThanOrEqual(3);
      expect(peak).toBeGreaterThan(1);
      expect(sessions).toBeLessThanOrEqual(3);
    } finally {
      await pool.close();
    }
  });
});
