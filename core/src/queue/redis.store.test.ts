import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../local/process-utils.js';
import { startLocalRedis, type LocalRedis } from '../local/redis.js';
import { createRedis, sentinelTarget } from './redis.js';

/** Redis under Sentinel: a real redis-server as master and a real sentinel watching it, both with a password. */

let dataDir: string;
let master: LocalRedis;
let sentinel: ChildProcess;
let sentinelPort: number;
let password: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-sentinel-'));
  master = await startLocalRedis({ dataDir, persistent: false });
  password = decodeURIComponent(new URL(master.url).password);
  sentinelPort = await freePort();
  const conf = path.join(dataDir, 'sentinel.conf');
  fs.writeFileSync(
    conf,
    [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dataDir}`, `requirepass "${password}"`, `sentinel monitor mailyard 127.0.0.1 ${master.port} 1`, `sentinel auth-pass mailyard "${password}"`, ''].join('\n'),
    { mode: 0o600 },
  );
  sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
});

afterAll(async () => {
  sentinel?.kill();
  await master?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('createRedis with sentinels', () => {
  it('asks the sentinels for the master and runs commands on it, with the password for both', async () => {
    const redis = createRedis(sentinelTarget({ sentinels: [`127.0.0.1:${sentinelPort}`], name: 'mailyard', password }), { maxRetriesPerRequest: 1 });
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          await redis.set('sentinel:probe', 'through the sentinel');
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err; // the sentinel is still starting: poll until it answers
        }
      }
      expect(redis.options.sentinels).toEqual([{ host: '127.0.0.1', port: sentinelPort }]);
      expect(await redis.get('sentinel:probe')).toBe('through the sentinel');
      expect(await redis.info('replication')).toMatch(/role:master/);
    } finally {
      redis.disconnect();
    }
  });

  it('cannot reach the master through a sentinel without the password', async () => {
    const redis = createRedis(sentinelTarget({ sentinels: [`127.0.0.1:${sentinelPort}`], name: 'mailyard' }), { maxRetriesPerRequest: 0, sentinelRetryStrategy: () => null });
    try {
      await expect(redis.get('sentinel:probe')).rejects.toThrow(/NOAUTH/);
    } finally {
      redis.disconnect();
    }
  });
});
