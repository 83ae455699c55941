import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSentinel, type TestSentinel } from '../../../tests/helpers/redis-sentinel.js';
import { createRedis, sentinelTarget } from './redis.js';

/** Redis under Sentinel: a real redis-server as master and a real sentinel watching it, both with a password. */

let sentinel: TestSentinel;
let sentinelPort: number;
let password: string;

beforeAll(async () => {
  sentinel = await startTestSentinel();
  ({ sentinelPort, password } = sentinel);
});

afterAll(async () => {
  await sentinel?.stop();
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
