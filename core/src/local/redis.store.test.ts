import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalRedis, type LocalRedis } from './redis.js';

/** The private redis-server of `npm start`: its password must not be readable by other local users. */

let dataDir: string;
let redis: LocalRedis;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-local-redis-'));
  redis = await startLocalRedis({ dataDir, persistent: false });
});
afterAll(async () => {
  await redis?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('startLocalRedis', () => {
  it('keeps the password off the command line, in a config file only its owner can read', () => {
    const password = fs.readFileSync(path.join(dataDir, 'redis.secret'), 'utf8').trim();
    const { pid } = JSON.parse(fs.readFileSync(path.join(dataDir, 'redis', 'server.json'), 'utf8')) as { pid: number };
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    expect(cmdline).toContain('redis-server');
    expect(cmdline).not.toContain(password);
    const configFile = path.join(dataDir, 'redis', 'redis.conf');
    expect(fs.statSync(configFile).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(configFile, 'utf8')).toContain(`requirepass "${password}"`);
  });

  it('lets a client with the password in, and refuses one without it', async () => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    const anonymous = new Redis({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: 1, lazyConnect: true, enableReadyCheck: false });
    try {
      await client.connect();
      expect(await client.set('k', 'v')).toBe('OK');
      expect(await client.get('k')).toBe('v');
      await anonymous.connect();
      await expect(anonymous.get('k')).rejects.toThrow(/NOAUTH/);
    } finally {
      client.disconnect();
      anonymous.disconnect();
    }
  });
});
