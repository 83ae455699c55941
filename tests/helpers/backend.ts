import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { buildBackend, type BackendOptions } from '../../backend/src/app.js';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { silentLogger } from '../../core/src/log/logger.js';
import { createSubscriberRedis } from '../../core/src/queue/redis.js';
import { allocateRedisUrl } from './redis.js';
import { TEST_SECRET_KEY, testSecrets } from './secrets.js';
import { createTestStore, type TestStore } from './store.js';

export interface Agent {
  userId: number;
  address: string;
  cookie: string;
  csrf: string;
  /** Request headers for an authenticated call (cookie + CSRF). */
  headers: Record<string, string>;
}

export interface TestBackend {
  app: FastifyInstance;
  redisUrl: string;
  /** DATA_DIR of this backend (a temp dir, removed on close). */
  dataDir: string;
  store: TestStore;
  redis: Redis;
  accounts: ReturnType<typeof createAccountsService>;
  login(address: string, password: string): Promise<Agent>;
  close(): Promise<void>;
}

/** The real backend on a fresh database and its own Redis database; requests via app.inject. */
export async function createTestBackend(options: Pick<BackendOptions, 'dnsServers' | 'mailHostname' | 'apiDocs' | 'metrics' | 'maxMessageBytes' | 'spamLearning' | 'importMaxBytes'> = {}): Promise<TestBackend> {
  const store = await createTestStore();
  const redisDb = await allocateRedisUrl();
  const redis = new Redis(redisDb.url);
  const subscribers: Redis[] = [];
  const createSubscriber = () => {
    const sub = createSubscriberRedis(redisDb.url);
    subscribers.push(sub);
    return sub;
  };
  const dataDir = await mkdtemp(path.join(tmpdir(), 'mailyard-backend-'));
  // The test's sealing key: what the backend seals (TOTP, rotated DKIM keys) the test opens, and back.
  const app = await buildBackend({ db: store.db, redis, createSubscriber, log: silentLogger() }, { dataDir, secretKey: TEST_SECRET_KEY, ...options });
  await app.ready();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  return {
    app,
    redisUrl: redisDb.url,
    dataDir,
    store,
    redis,
    accounts,
    async login(address, password) {
      const res = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { address, password } });
      if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
      const setCookie = res.cookies.find((c) => c.name === 'mailyard_session');
      if (!setCookie) throw new Error('no session cookie');
      const body = res.json() as { id: number; address: string; csrfToken: string };
      const cookie = `mailyard_session=${setCookie.value}`;
      return { userId: body.id, address: body.address, cookie, csrf: body.csrfToken, headers: { cookie, 'x-csrf-token': body.csrfToken } };
    },
    async close() {
      await app.close();
      for (const sub of subscribers) sub.disconnect();
      await redisDb.flush();
      redis.disconnect();
      await store.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The usual cast of access-control tests: ann and ben on m.test, both signed in. */
export async function signInTwoUsers(t: TestBackend): Promise<{ ann: Agent; ben: Agent }> {
  await t.accounts.addDomain('m.test');
  await t.accounts.addUser({ address: 'ann@m.test', password: 'ann password' });
  await t.accounts.addUser({ address: 'ben@m.test', password: 'ben password' });
  return { ann: await t.login('ann@m.test', 'ann password'), ben: await t.login('ben@m.test', 'ben password') };
}
