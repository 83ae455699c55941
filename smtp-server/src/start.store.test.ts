import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, schemas, silentLogger } from '@mailyard/core';
import { watchLeaks, type LeakWatch } from '../../tests/helpers/leaks.js';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { waitForSmtpGreeting } from '../../tests/helpers/services.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { start } from './start.js';

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let dataDir: string;
let watch: LeakWatch | undefined;

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-smtp-start-'));
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

const config = (env: Record<string, string> = {}) =>
  loadConfig(schemas.smtp('local'), { DATA_DIR: dataDir, SMTP_PORT: '0', SUBMISSION_PORT: '0', SMTPS_PORT: '0', MAIL_HOSTNAME: 'mx.start.test', LOG_LEVEL: 'silent', ...env });
const endpoints = () => ({ databaseUrl: store.url, redisUrl: redis.url });
const watchSmtp = () => watchLeaks({ databaseUrl: store.url, applicationName: 'smtp-server', redisUrl: redis.url });

describe('smtp-server start()', () => {
  it('closes the MX listener it opened, its pool and Redis when the submission port is taken', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      watch = await watchSmtp();
      await expect(start(config({ SUBMISSION_PORT: String((taken.address() as net.AddressInfo).port) }), endpoints(), silentLogger())).rejects.toThrow(/EADDRINUSE/);
      await watch.expectNothingLeftOpen();
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('closes its pool and Redis when the TLS certificate cannot be read', async () => {
    watch = await watchSmtp();
    const missing = path.join(dataDir, 'no-such.pem');
    await expect(start(config({ TLS_CERT_FILE: missing, TLS_KEY_FILE: missing }), endpoints(), silentLogger())).rejects.toThrow(/cannot read the TLS certificate/);
    await watch.expectNothingLeftOpen();
  });

  it('empties DATA_DIR/spool-temp (what a killed process left in DATA) at start and makes it private (0700)', async () => {
    const spillDir = path.join(dataDir, 'spool-temp');
    fs.mkdirSync(spillDir, { recursive: true, mode: 0o755 });
    fs.chmodSync(spillDir, 0o755);
    fs.writeFileSync(path.join(spillDir, 'left-by-a-crash.eml'), 'half a message');
    const smtp = await start(config(), endpoints(), silentLogger());
    try {
      expect(fs.readdirSync(spillDir)).toEqual([]);
      expect(fs.statSync(spillDir).mode & 0o777).toBe(0o700);
    } finally {
      await smtp.stop();
    }
  });

  it('listens, greets, and leaves nothing open after stop()', async () => {
    watch = await watchSmtp();
    const smtp = await start(config(), endpoints(), silentLogger());
    await waitForSmtpGreeting(smtp.port);
    await smtp.stop();
    await watch.expectNothingLeftOpen();
  });
});
