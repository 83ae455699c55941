import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, schemas, silentLogger } from '@mailyard/core';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { eventually } from '../../tests/helpers/services.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { certificatePair, installPair, servedFingerprint, starttlsFingerprint } from '../../tests/helpers/tls-files.js';
import { start } from './start.js';

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let dir: string;

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-smtp-tls-'));
});

afterAll(async () => {
  await redis?.flush();
  await store?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const starttls = (port: number) => starttlsFingerprint(port, [{ until: /^220 / }, { send: 'EHLO client.test', until: /^250 / }, { send: 'STARTTLS', until: /^220 / }]);

describe('smtp-server with TLS_CERT_FILE/TLS_KEY_FILE', () => {
  it('presents the files\' certificate on MX and submission STARTTLS and on SMTPS, and a new pair once the files change, without a restart', async () => {
    const files = { certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') };
    const first = await certificatePair('mx.tls.test');
    installPair(first, files);
    const config = loadConfig(schemas.smtp('local'), {
      DATA_DIR: dir, SMTP_PORT: '0', SUBMISSION_PORT: '0', SMTPS_PORT: '0', MAIL_HOSTNAME: 'mx.tls.test', LOG_LEVEL: 'silent',
      TLS_CERT_FILE: files.certFile, TLS_KEY_FILE: files.keyFile, TLS_RELOAD_INTERVAL: '100ms',
    });
    const smtp = await start(config, { databaseUrl: store.url, redisUrl: redis.url }, silentLogger());
    try {
      const served = async () => [await starttls(smtp.port), await starttls(smtp.submissionPort), await servedFingerprint(smtp.smtpsPort)];
      expect(await served()).toEqual([first.fingerprint, first.fingerprint, first.fingerprint]);

      const second = await certificatePair('mx.tls.test');
      installPair(second, files);
      await eventually(async () => (await servedFingerprint(smtp.smtpsPort)) === second.fingerprint, { timeoutMs: 15_000 });
      expect(await served()).toEqual([second.fingerprint, second.fingerprint, second.fingerprint]);
    } finally {
      await smtp.stop();
    }
  });
});
