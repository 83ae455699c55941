import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { freePort } from '../../core/src/local/process-utils.js';

/**
 * deploy/kubernetes/redis.yaml's configure.sh, run for real: the files it writes are loaded by the
 * real redis-server and sentinel (Debian's redis-server, the same major version as the redis:7
 * image), which must serve with the settings BullMQ needs and the password; and a pod that restarts
 * joins the primary its sentinels name (a stand-in redis-cli answers for the sentinels, since the
 * pods' names do not resolve here).
 */

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const PASSWORD = 'c0ffee'.repeat(4);
const started: ChildProcess[] = [];
const dirs: string[] = [];

function configureScript(): string {
  const [configMap] = parseAllDocuments(fs.readFileSync(path.join(repoRoot, 'deploy', 'kubernetes', 'redis.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; data?: Record<string, string> });
  expect(configMap?.kind).toBe('ConfigMap');
  return configMap!.data!['configure.sh']!;
}

/** Runs configure.sh as pod `hostname` would, writing into a temporary /conf; `redisCli` replaces redis-cli when given. */
function configure(hostname: string, redisCli?: string): { dir: string; redisConf: string; sentinelConf: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-redis-conf-'));
  dirs.push(dir);
  const script = path.join(dir, 'configure.sh');
  // The pod's paths, moved into the temporary folder: /conf (the emptyDir) and /data (the volume).
  fs.writeFileSync(script, configureScript().replaceAll('/conf/', `${dir}/`).replace('"dir /data"', `"dir ${dir}"`));
  let PATH = process.env.PATH ?? '';
  if (redisCli !== undefined) {
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'bin', 'redis-cli'), `#!/bin/sh\n${redisCli}\n`, { mode: 0o755 });
    PATH = `${path.join(dir, 'bin')}:${PATH}`;
  }
  const run = spawnSync('sh', [script], { env: { PATH, HOSTNAME: hostname, REDIS_PASSWORD: PASSWORD, REDISCLI_AUTH: PASSWORD }, encoding: 'utf8', timeout: 30_000 });
  expect(run.status, run.stderr).toBe(0);
  return { dir, redisConf: fs.readFileSync(path.join(dir, 'redis.conf'), 'utf8'), sentinelConf: fs.readFileSync(path.join(dir, 'sentinel.conf'), 'utf8') };
}

/** Starts redis-server on a free loopback port with `args` after the config file; resolves once it answers PING. */
async function startServer(args: string[]): Promise<number> {
  const port = await freePort();
  const child = spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const client = new Redis({ host: '127.0.0.1', port, password: PASSWORD, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined); // refused while the server starts: the loop below retries
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await client.connect();
        if ((await client.ping()) === 'PONG') return port;
      } catch (err) {
        if (child.exitCode !== null) throw new Error(`redis-server ${args.join(' ')} exited (${child.exitCode}):\n${output}`);
        if (Date.now() > deadline) throw err;
        client.disconnect();
        await new Promise((resolve) => setTimeout(resolve, 100)); // the server is still starting: poll until it answers
      }
    }
  } finally {
    client.disconnect();
  }
}

let first: ReturnType<typeof configure>;

beforeAll(() => {
  first = configure('redis-0');
});

afterAll(async () => {
  // Each server is stopped by its PID and awaited, so that nothing writes into a folder being removed.
  await Promise.all(
    started.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
          child.once('exit', () => resolve());
          process.kill(child.pid, 'SIGTERM');
        }),
    ),
  );
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('deploy/kubernetes/redis.yaml', () => {
  it('starts redis-0 as the primary, with AOF, noeviction and the password, when no sentinel knows a primary yet', async () => {
    expect(first.redisConf).not.toMatch(/replicaof/);
    const port = await startServer([path.join(first.dir, 'redis.conf')]);
    const anonymous = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const client = new Redis({ host: '127.0.0.1', port, password: PASSWORD, maxRetriesPerRequest: 1 });
    try {
      await anonymous.connect();
      await expect(anonymous.get('k')).rejects.toThrow(/NOAUTH/);
      expect(await client.info('replication')).toMatch(/role:master/);
      expect(await client.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await client.config('GET', 'replica-announce-ip')).toEqual(['replica-announce-ip', 'redis-0.redis']);
    } finally {
      anonymous.disconnect();
      client.disconnect();
    }
  });

  it('starts its sentinel watching redis-0.redis as `mailyard` (quorum 2), behind the password', async () => {
    const port = await startServer([path.join(first.dir, 'sentinel.conf'), '--sentinel']);
    const sentinel = new Redis({ host: '127.0.0.1', port, password: PASSWORD, maxRetriesPerRequest: 1 });
    try {
      expect(await sentinel.call('SENTINEL', 'get-master-addr-by-name', 'mailyard')).toEqual(['redis-0.redis', '6379']);
      const master = (await sentinel.call('SENTINEL', 'master', 'mailyard')) as string[];
      expect(master[master.indexOf('quorum') + 1]).toBe('2');
    } finally {
      sentinel.disconnect();
    }
  });

  it('makes a restarting pod the replica of the primary its sentinels name, and ignores an error answer', () => {
    const restarted = configure('redis-0', 'if [ "$2" = redis-1.redis ]; then printf "redis-2.redis\\n6379\\n"; else exit 1; fi');
    expect(restarted.redisConf).toMatch(/^replicaof redis-2\.redis 6379$/m);
    expect(restarted.sentinelConf).toMatch(/^sentinel monitor mailyard redis-2\.redis 6379 2$/m);
    const refused = configure('redis-1', 'echo "NOAUTH Authentication required."');
    expect(refused.redisConf).toMatch(/^replicaof redis-0\.redis 6379$/m);
    expect(refused.redisConf).toMatch(/^replica-announce-ip redis-1\.redis$/m);
  });
});
