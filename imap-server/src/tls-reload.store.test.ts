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
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-imap-tls-'));
});

afterAll(async () => {
  await redis?.flush();
  await store?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const starttls = (port: number) => starttlsFingerprint(port, [{ until: /^\* OK/ }, { send: 'a STARTTLS', until: /^a OK/ }]);

describe('imap-server with TLS_CERT_FILE/TLS_KEY_FILE', () => {
  it('presents the files\' certificate on STARTTLS and IMAPS, and a new pair once the files change, without a restart', async () => {
    const files = { certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') };
    const first = await certificatePair('mx.tls.test');
    installPair(first, files);
    const config = loadConfig(schemas.imap('local'), {
      DATA_DIR: dir, IMAP_PORT: '0', IMAPS_PORT: '0', MAIL_HOSTNAME: 'mx.tls.test', LOG_LEVEL: 'silent',
      TLS_CERT_FILE: files.certFile, TLS_KEY_FILE: files.keyFile, TLS_RELOAD_INTERVAL: '100ms',
    });
    const imap = await start(config, { databaseUrl: store.url, redisUrl: redis.url }, silentLogger());
    try {
      const served = async () => [await starttls(imap.port), await servedFingerprint(imap.imapsPort)];
      expect(await served()).toEqual([first.fingerprint, first.fingerprint]);

      const second = await certificatePair('mx.tls.test');
      installPair(second, files);
      await eventually(async () => (await servedFingerprint(imap.imapsPort)) === second.fingerprint, { timeoutMs: 15_000 });
      expect(await served()).toEqual([second.fingerprint, second.fingerprint]);
    } finally {
      await imap.stop();
    }
  });
});
