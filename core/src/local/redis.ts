import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../log/logger.js';
import { captureOutput, commandExists, freePort, isProcessAlive, readSecret, spawn, stopChild, waitUntil } from './process-utils.js';
import { supervise, type RestartBackoff } from './supervisor.js';

/**
 * A private `redis-server` (Debian's package) with its data under `<dataDir>/redis`:
 * loopback only, a generated password, append-only file on. Its settings, the password among
 * them, are in `<dataDir>/redis/redis.conf` (mode 0600), never on its command line, where any
 * local user could read them in `ps` or /proc/<pid>/cmdline.
 */
export interface LocalRedis {
  url: string;
  port: number;
  owned: boolean;
  stop(): Promise<void>;
}

function ping(port: number, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(data.includes('+PONG')));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('+PONG')) socket.end();
    });
    socket.write(`AUTH ${password}\r\nPING\r\n`);
  });
}

/**
 * Writes `<dir>/redis.conf`, created afresh with mode 0600 (readable by this user only), and
 * returns its path. Each value is double-quoted, so paths with spaces and an empty `save` survive.
 */
function writeConfigFile(dir: string, settings: Array<[name: string, value: string]>): string {
  const file = path.join(dir, 'redis.conf');
  const quote = (value: string) => `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, settings.map(([name, value]) => `${name} ${quote(value)}\n`).join(''), { mode: 0o600, flag: 'wx' });
  return file;
}

export interface LocalRedisOptions {
  dataDir: string;
  persistent?: boolean;
  databases?: number;
  /** Restart the server whenever it dies (`npm start`), logging each restart: see supervisor.ts. */
  supervise?: { log: Logger; backoff?: RestartBackoff };
}

export async function startLocalRedis(options: LocalRedisOptions): Promise<LocalRedis> {
  const dir = path.join(options.dataDir, 'redis');
  fs.mkdirSync(dir, { recursive: true });
  const password = readSecret(path.join(options.dataDir, 'redis.secret'), () => randomBytes(18).toString('base64url'));
  const stateFile = path.join(dir, 'server.json');
  const urlFor = (port: number) => `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`;

  try {
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { pid: number; port: number };
    if (isProcessAlive(state.pid) && (await ping(state.port, password))) {
      return { url: urlFor(state.port), port: state.port, owned: false, stop: async () => undefined };
    }
  } catch {
    // no server recorded, or it is gone
  }

  if (!commandExists('redis-server')) {
    throw new Error('redis-server is not installed: run `npm start` as root (it installs it), or `sudo apt-get install -y redis-server`, or set REDIS_URL');
  }
  const port = await freePort();
  const persistent = options.persistent ?? true;
  const configFile = writeConfigFile(dir, [
    ['port', String(port)],
    ['bind', '127.0.0.1'],
    ['dir', dir],
    ['requirepass', password],
    ['save', ''],
    ['appendonly', persistent ? 'yes' : 'no'],
    ['appendfsync', 'everysec'],
    ['daemonize', 'no'],
    ['maxmemory-policy', 'noeviction'],
    ['databases', String(options.databases ?? 16)],
  ]);
  const launch = async () => {
    const child = spawn('redis-server', [configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = captureOutput(child);
    try {
      await waitUntil('redis-server', () => ping(port, password), { timeoutMs: 15_000, child, output });
    } catch (err) {
      await stopChild(child, 'SIGKILL');
      throw err;
    }
    fs.writeFileSync(stateFile, JSON.stringify({ pid: child.pid, port }));
    return child;
  };
  const stopServer = async (child: ChildProcess) => {
    await stopChild(child, 'SIGTERM');
    fs.rmSync(stateFile, { force: true });
  };
  const child = await launch();
  // Restarted on the same port with the same settings, so the services' URL stays right.
  const supervised = options.supervise && supervise(child, launch, stopServer, { name: 'redis-server', ...options.supervise });
  return {
    url: urlFor(port),
    port,
    owned: true,
    stop: () => (supervised ? supervised.stop() : stopServer(child)),
  };
}
