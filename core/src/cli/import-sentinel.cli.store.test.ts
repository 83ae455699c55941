import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { startTestSentinel, type TestSentinel } from '../../../tests/helpers/redis-sentinel.js';
import { TEST_SECRET_KEY, testSecrets } from '../../../tests/helpers/secrets.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { userChannel } from '../contracts/events.js';
import { runCli } from './main.js';

/** `mailyard import` reaches Redis the way the services do: under Sentinel too (REDIS_SENTINELS, REDIS_PASSWORD). */

let store: TestStore;
let sentinel: TestSentinel;
let dir: string;
const env = ['DATABASE_URL', 'SECRET_KEY', 'REDIS_URL', 'REDIS_SENTINELS', 'REDIS_PASSWORD'] as const;

beforeAll(async () => {
  [store, sentinel] = await Promise.all([createTestStore(), startTestSentinel()]);
  Object.assign(process.env, { DATABASE_URL: store.url, SECRET_KEY: TEST_SECRET_KEY, ...sentinel.env });
  delete process.env.REDIS_URL;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-cli-sentinel-'));
});
afterAll(async () => {
  for (const key of env) delete process.env[key];
  await store?.drop();
  await sentinel?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('mailyard import under Sentinel', () => {
  it('tells live clients of the imported mail through the master the sentinels name', async () => {
    const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
    await accounts.addDomain('sentinel.test');
    const user = await accounts.addUser({ address: 'ida@sentinel.test', password: 'ida password 1' });
    const file = path.join(dir, 'one.mbox');
    fs.writeFileSync(file, 'From someone@far.test Sun Dec  6 10:00:00 2026\nFrom: someone@far.test\nSubject: Through the sentinel\nMessage-ID: <s1@far.test>\n\nHello.\n');

    const subscriber: Redis = sentinel.connectMaster();
    const events: unknown[] = [];
    try {
      subscriber.on('message', (_channel: string, message: string) => events.push(JSON.parse(message)));
      await subscriber.subscribe(userChannel(user.id));
      const lines: string[] = [];
      expect(await runCli(['import', 'ida@sentinel.test', file], (line) => lines.push(line))).toBe(0);
      expect(lines).toEqual(['imported 1 messages into ida@sentinel.test (0 already there, 1 read)']);
      const deadline = Date.now() + 10_000;
      while (events.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50)); // poll: the message is on its way
      expect(events.length).toBeGreaterThan(0);
    } finally {
      subscriber.disconnect();
    }
  });
});
