import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRedis, loadTlsMaterial, type Db, type TlsMaterial } from '@mailyard/core';
import { allocateRedisUrl } from './redis.js';
import type { SmtpTranscript } from './smtp-transcript.js';
import { createTestStore, type TestStore } from './store.js';

/**
 * What the SMTP listener tests (MX and submission) stand on: a fresh database, a Redis database
 * of their own, self-signed TLS material in a temp folder, and registries of what the tests open
 * (transcript clients, extra database pools) so that `close()` stops all of it.
 */
export interface SmtpTestEnv {
  store: TestStore;
  redis: ReturnType<typeof createRedis>;
  tls: TlsMaterial;
  /** The temp folder (TLS material; usable as DATA_DIR). */
  dir: string;
  /** Clients to close after each test (`closeClients`) and at the end. */
  clients: SmtpTranscript[];
  /** Extra pools a test opened (e.g. on a dead server), destroyed at the end. */
  extraDbs: Db[];
  closeClients(): Promise<void>;
  /** Closes clients and pools, empties the Redis database, drops the store, removes the folder. */
  close(): Promise<void>;
}

export async function createSmtpTestEnv(hostname: string): Promise<SmtpTestEnv> {
  const store = await createTestStore();
  const redisDb = await allocateRedisUrl();
  const redis = createRedis(redisDb.url, { maxRetriesPerRequest: 1 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-smtp-test-'));
  const tls = await loadTlsMaterial({ dataDir: dir, hostname });
  const clients: SmtpTranscript[] = [];
  const extraDbs: Db[] = [];
  const closeClients = async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  };
  return {
    store,
    redis,
    tls,
    dir,
    clients,
    extraDbs,
    closeClients,
    async close() {
      await closeClients();
      await Promise.all(extraDbs.splice(0).map((db) => db.destroy()));
      await redisDb.flush();
      redis.disconnect();
      await store.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A loopback port nothing listens on (for a store or Redis that is down). */
export async function closedPort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
