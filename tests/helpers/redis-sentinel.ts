import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../core/src/local/process-utils.js';
import { startLocalRedis, type LocalRedis } from '../../core/src/local/redis.js';

/**
 * Redis under Sentinel for tests: a real redis-server as master (with a password) and a real
 * sentinel watching it (master name `mailyard`, the same password), on loopback. Resolves once
 * the sentinel names the master; `env` is the configuration that points a service at them.
 */
export interface TestSentinel {
  master: LocalRedis;
  password: string;
  sentinelPort: number;
  /** REDIS_SENTINELS and REDIS_PASSWORD (REDIS_SENTINEL_NAME is the default, `mailyard`). */
  env: { REDIS_SENTINELS: string; REDIS_PASSWORD: string };
  /** A direct connection to the master (to look at what the code under test wrote). */
  connectMaster(): Redis;
  stop(): Promise<void>;
}

export async function startTestSentinel(): Promise<TestSentinel> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-sentinel-'));
  const master = await startLocalRedis({ dataDir, persistent: false });
  const password = decodeURIComponent(new URL(master.url).password);
  const sentinelPort = await freePort();
  const conf = path.join(dataDir, 'sentinel.conf');
  fs.writeFileSync(
    conf,
    [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dataDir}`, `requirepass "${password}"`, `sentinel monitor mailyard 127.0.0.1 ${master.port} 1`, `sentinel auth-pass mailyard "${password}"`, ''].join('\n'),
    { mode: 0o600 },
  );
  const sentinel: ChildProcess = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const stop = async () => {
    sentinel.kill();
    await master.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await untilSentinelNamesMaster(sentinelPort, password, master.port);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    master,
    password,
    sentinelPort,
    env: { REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`, REDIS_PASSWORD: password },
    connectMaster: () => new Redis(master.url, { maxRetriesPerRequest: 1 }),
    stop,
  };
}

async function untilSentinelNamesMaster(port: number, password: string, masterPort: number): Promise<void> {
  const client = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined); // refused while the sentinel starts: polled below
  const deadline = Date.now() + 20_000;
  try {
    for (;;) {
      try {
        if (client.status !== 'ready') await client.connect();
        const address = (await client.call('SENTINEL', 'get-master-addr-by-name', 'mailyard')) as string[] | null;
        if (address?.[1] === String(masterPort)) return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        client.disconnect();
      }
      if (Date.now() > deadline) throw new Error(`the sentinel on ${port} does not name the master on ${masterPort}`);
      await new Promise((resolve) => setTimeout(resolve, 100)); // the sentinel is still starting: poll until it answers
    }
  } finally {
    client.disconnect();
  }
}
