import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService, loadConfig, newUploadId, schemas, silentLogger, uploadPath } from '@mailyard/core';
import { watchLeaks, type LeakWatch } from '../../tests/helpers/leaks.js';
import { eventually } from '../../tests/helpers/services.js';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { start } from './start.js';
import { testSecrets } from '../../tests/helpers/secrets.js';

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let dataDir: string;
let watch: LeakWatch | undefined;

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-backend-start-'));
});

afterEach(async () => {
  await watch?.close();
  watch = undefined;
});

afterAll(async () => {
  await redis?.flush();
  await store?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const config = (port: number) => loadConfig(schemas.http('local'), { DATA_DIR: dataDir, HTTP_PORT: String(port), HTTPS_PORT: '0', LOG_LEVEL: 'silent' });
const endpoints = () => ({ databaseUrl: store.url, redisUrl: redis.url });

describe('backend start()', () => {
  it('closes its pool, Redis connections and app when the HTTP port is taken', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      watch = await watchLeaks({ databaseUrl: store.url, applicationName: 'backend', redisUrl: redis.url });
      await expect(start(config((taken.address() as net.AddressInfo).port), endpoints(), silentLogger())).rejects.toThrow(/EADDRINUSE/);
      await watch.expectNothingLeftOpen();
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('starts, answers, and leaves nothing open after stop()', async () => {
    watch = await watchLeaks({ databaseUrl: store.url, applicationName: 'backend', redisUrl: redis.url });
    const backend = await start(config(0), endpoints(), silentLogger());
    const res = await fetch(`http://127.0.0.1:${backend.port}/readyz`);
    expect(res.status).toBe(200);
    await backend.stop();
    await watch.expectNothingLeftOpen();
  });

  it('sweeps uploads older than a day, rows and files (housekeeping runs where the files are)', async () => {
    const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
    await accounts.addDomain('start.test');
    const user = await accounts.addUser({ address: 'una@start.test', password: 'una password' });
    const upload = async (createdAt: Date) => {
      const id = newUploadId();
      await store.db.insertInto('uploads').values({ id, user_id: user.id, filename: 'a.txt', content_type: 'text/plain', size: 1, created_at: createdAt }).execute();
      fs.mkdirSync(path.dirname(uploadPath(dataDir, id)), { recursive: true });
      fs.writeFileSync(uploadPath(dataDir, id), 'a');
      return id;
    };
    const stale = await upload(new Date(Date.now() - 25 * 3_600_000));
    const fresh = await upload(new Date());
    // A Redis database of its own: the schedule there is new, so its first run comes at once.
    const ownRedis = await allocateRedisUrl();
    const backend = await start(config(0), { databaseUrl: store.url, redisUrl: ownRedis.url }, silentLogger());
    try {
      const uploads = async () => (await store.db.selectFrom('uploads').select('id').where('user_id', '=', user.id).execute()).map((r) => r.id);
      await eventually(async () => !(await uploads()).includes(stale), { timeoutMs: 20_000 });
      expect(await uploads()).toEqual([fresh]);
      expect(fs.existsSync(uploadPath(dataDir, stale))).toBe(false);
      expect(fs.existsSync(uploadPath(dataDir, fresh))).toBe(true);
    } finally {
      await backend.stop();
      await ownRedis.flush();
    }
  });
});
