import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, schemas, silentLogger } from '@mailyard/core';
import { growth, scrapeMetrics } from '../../tests/helpers/metrics.js';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { eventually } from '../../tests/helpers/services.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { start } from './start.js';

/**
 * The imap-server's own /metrics on WORKER_HEALTH_PORT: the real service (start()) on a real
 * store and Redis, raw IMAP connections, and the figures read back from the scrape.
 */

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let dir: string;
let imap: Awaited<ReturnType<typeof start>>;

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-imap-metrics-'));
  const config = loadConfig(schemas.imap('local'), { DATA_DIR: dir, IMAP_PORT: '0', IMAPS_PORT: '0', WORKER_HEALTH_PORT: '0', MAIL_HOSTNAME: 'imap.a.test', LOG_LEVEL: 'silent' });
  imap = await start(config, { databaseUrl: store.url, redisUrl: redis.url }, silentLogger());
});

afterAll(async () => {
  await imap?.stop();
  await redis?.flush();
  await store?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A raw IMAP connection: `until(pattern)` resolves once a line matching it has arrived. */
async function openConnection(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  const until = (pattern: RegExp) => eventually(async () => received.split('\r\n').some((l) => pattern.test(l)), { timeoutMs: 15_000, describe: () => received });
  await until(/^\* OK /);
  return {
    socket,
    until,
    close: () => void socket.destroy(),
  };
}

describe('imap-server /metrics', () => {
  it('reports the connections open now, counts them, and counts commands by name (anything unknown as other)', async () => {
    const port = imap.healthPort!;
    expect(port).toBeGreaterThan(0);
    const before = await scrapeMetrics(port);
    expect(before.get('mailyard_imap_connections')).toBe(0);
    const first = await openConnection(imap.port);
    const second = await openConnection(imap.port);
    try {
      first.socket.write('a1 CAPABILITY\r\na2 NOOP\r\na3 FROBNICATE\r\n');
      await first.until(/^a3 BAD/);
      second.socket.write('b1 CAPABILITY\r\nthis is not a command\r\n');
      await second.until(/^\* BAD|^this BAD/);
      const both = await scrapeMetrics(port);
      expect(both.get('mailyard_imap_connections')).toBe(2);
      first.close();
      await eventually(async () => (await scrapeMetrics(port)).get('mailyard_imap_connections') === 1, { timeoutMs: 15_000 });
    } finally {
      first.close();
      second.close();
    }
    const after = await eventually(
      async () => {
        const scrape = await scrapeMetrics(port);
        return scrape.get('mailyard_imap_connections') === 0 && scrape;
      },
      { timeoutMs: 15_000 },
    );
    expect(
      growth(before, after, [
        'mailyard_imap_connections_total',
        'mailyard_imap_commands_total{command="CAPABILITY"}',
        'mailyard_imap_commands_total{command="NOOP"}',
        'mailyard_imap_commands_total{command="other"}',
        'mailyard_imap_commands_total{command="FROBNICATE"}',
      ]),
    ).toEqual({
      'mailyard_imap_connections_total': 2,
      'mailyard_imap_commands_total{command="CAPABILITY"}': 2,
      'mailyard_imap_commands_total{command="NOOP"}': 1,
      'mailyard_imap_commands_total{command="other"}': 2,
      'mailyard_imap_commands_total{command="FROBNICATE"}': 0,
    });
  });
});
