import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { freePort, isProcessAlive } from '../../core/src/local/process-utils.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { eventually, repoRoot, runCommand, spawnService, type ServiceProcess } from '../helpers/services.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { connectImap } from '../helpers/imap-transcript.js';
import { testSecrets } from '../helpers/secrets.js';

/**
 * The built imap-server with IMAP_PROCESSES=2 (imap-server/src/cluster.ts): a primary and two
 * processes sharing IMAP_PORT. Which process holds a connection is read from `ss -p` (the
 * server-side socket of an established connection belongs to the process that accepted it). The
 * caps hold for the service, not per process: the per-IP cap counts connections on both, the
 * per-user cap refuses a LOGIN on either once the user's sessions span both. A SIGKILLed process
 * is replaced and the slots it held are freed; SIGTERM to the primary stops every process. Under
 * `npm start` the primary is itself a child of the stack (stack/dist/child.js): it reports ready
 * with the port its processes share.
 */

const PER_IP = 16;
const PER_USER = 3;

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let service: ServiceProcess;
let dataDir: string;
let port: number;
const open: Conn[] = [];

interface Conn {
  localPort: number;
  greeting: string;
  /** Sends `tag command`; resolves with the tagged reply line. */
  command(line: string): Promise<string>;
  closed: Promise<void>;
  close(): void;
}

/** An IMAP connection (connectImap) with its greeting read; `command` resolves with the tagged reply line. */
async function connect(): Promise<Conn> {
  const client = await connectImap(port);
  const conn: Conn = {
    localPort: client.localPort,
    greeting: await client.greeting(),
    command: async (line) => (await client.command(line)).at(-1)!,
    closed: client.closed(),
    close: () => client.close(),
  };
  open.push(conn);
  return conn;
}

/** The processes forked by `pid` (children in /proc). */
function childrenOf(pid: number): number[] {
  return fs.readdirSync('/proc').flatMap((entry) => {
    if (!/^\d+$/.test(entry)) return [];
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid ? [Number(entry)] : [];
    } catch {
      return []; // gone meanwhile
    }
  });
}

/** Client port → PID of the server process holding that established connection to IMAP_PORT. */
async function servingProcesses(): Promise<Map<number, number>> {
  const { stdout } = await runCommand('ss', ['-tnpH', 'state', 'established', `( sport = :${port} )`]);
  const held = new Map<number, number>();
  for (const line of stdout.split('\n')) {
    const m = /:(\d+)\s+\S+:(\d+)\s+users:\(\("[^"]*",pid=(\d+)/.exec(line);
    if (m && Number(m[1]) === port) held.set(Number(m[2]), Number(m[3]));
  }
  return held;
}

/** Waits until every connection in `conns` shows up in `ss`, and returns each one's process. */
async function processesOf(conns: Conn[]): Promise<number[]> {
  return eventually(
    async () => {
      const held = await servingProcesses();
      const pids = conns.map((c) => held.get(c.localPort));
      return pids.every((p) => p !== undefined) ? (pids as number[]) : null;
    },
    { timeoutMs: 10_000 },
  );
}

/** Closes every connection, and waits until the server has closed its side too (its slots are released then). */
async function closeAll(): Promise<void> {
  const closing = open.splice(0);
  for (const c of closing) c.close();
  await Promise.all(closing.map((c) => c.closed));
  await eventually(async () => {
    const held = await servingProcesses();
    return closing.every((c) => !held.has(c.localPort));
  }, { timeoutMs: 10_000 });
}

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('procs.test');
  await accounts.addUser({ address: 'alice@procs.test', password: 'alice password' });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-imap-procs-'));
  port = await freePort();
  service = spawnService('imap-server', {
    DATABASE_URL: store.url,
    REDIS_URL: redis.url,
    DATA_DIR: dataDir,
    MAIL_HOSTNAME: 'mx.procs.test',
    BIND_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'warn',
    IMAP_PORT: String(port),
    IMAPS_PORT: String(await freePort()),
    IMAP_PROCESSES: '2',
    IMAP_ALLOW_PLAINTEXT_AUTH: 'true',
    IMAP_MAX_CONNECTIONS_PER_IP: String(PER_IP),
    IMAP_MAX_CONNECTIONS_PER_USER: String(PER_USER),
  });
  // Ready once both processes take connections (the primary hands them out in turn).
  await eventually(
    async () => {
      try {
        const pair = [await connect(), await connect()];
        return new Set(await processesOf(pair)).size === 2;
      } catch {
        return false;
      } finally {
        await closeAll();
      }
    },
    { timeoutMs: 90_000, describe: () => service.output() },
  );
});

afterAll(async () => {
  await closeAll();
  await service?.kill();
  await redis?.flush();
  await store?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('imap-server with IMAP_PROCESSES=2', () => {
  it('spreads connections over both processes and holds the per-IP cap across them', async () => {
    const workers = childrenOf(service.child.pid!);
    const conns: Conn[] = [];
    for (let i = 0; i < PER_IP; i++) conns.push(await connect());
    expect(conns.map((c) => c.greeting)).toEqual(Array.from({ length: PER_IP }, () => expect.stringMatching(/^\* OK/)));
    const pids = await processesOf(conns);
    expect(new Set(pids)).toEqual(new Set(workers));
    // Each process holds fewer than the cap, so only a count over both refuses the next one.
    const refused = await connect();
    expect(refused.greeting).toBe('* BYE Too many connections from your address');
    await closeAll();
  });

  it('refuses the LOGIN past the per-user cap in either process, frees the slots of a killed process, and replaces it', async () => {
    const workers = childrenOf(service.child.pid!);
    // Connections until each process holds two and one of them three (the kernel picks the process), at most PER_IP.
    const conns: Conn[] = [];
    let pids: number[] = [];
    while (conns.length < PER_IP && !(conns.length >= 5 && workers.every((w) => pids.filter((p) => p === w).length >= 2))) {
      conns.push(await connect());
      pids = await processesOf(conns);
    }
    // PER_USER sessions held in both processes (two in the one with more connections), then one more LOGIN tried in each.
    const [a, b] = workers as [number, number];
    const onA = conns.filter((_, i) => pids[i] === a);
    const onB = conns.filter((_, i) => pids[i] === b);
    expect(onA.length).toBeGreaterThanOrEqual(2);
    expect(onB.length).toBeGreaterThanOrEqual(2);
    const signedIn = [onA[0]!, onB[0]!, (onA.length > 2 ? onA : onB)[1]!];
    const extra = [onA.find((c) => !signedIn.includes(c))!, onB.find((c) => !signedIn.includes(c))!];
    for (const c of signedIn) expect(await c.command('a1 LOGIN alice@procs.test "alice password"')).toMatch(/^a1 OK/);
    for (const c of extra) expect(await c.command('a1 LOGIN alice@procs.test "alice password"')).toMatch(/^a1 NO \[LIMIT\]/);

    // The process holding onA's sessions dies: its connections close, its slots are freed, it is replaced.
    process.kill(a, 'SIGKILL');
    await Promise.all(onA.map((c) => c.closed));
    const replacement = await eventually(
      async () => {
        const now = childrenOf(service.child.pid!);
        return now.length === 2 && !now.includes(a) && now.includes(b) ? now.find((p) => p !== b) : null;
      },
      { timeoutMs: 30_000, describe: () => service.output() },
    );
    expect(replacement).toBeDefined();
    // onB's extra connection was refused while alice's slots in the killed process were taken.
    expect(await onB.find((c) => extra.includes(c))!.command('a2 LOGIN alice@procs.test "alice password"')).toMatch(/^a2 OK/);
    // The per-IP slots of the killed process's connections are free too: PER_IP connections again.
    const more: Conn[] = [];
    for (let i = 0; i < onA.length; i++) more.push(await connect());
    expect(more.map((c) => c.greeting)).toEqual(more.map(() => expect.stringMatching(/^\* OK/)));
    await closeAll();
  });

  it('stops every process on SIGTERM to the primary', async () => {
    const workers = childrenOf(service.child.pid!);
    expect(workers).toHaveLength(2);
    expect(await service.stop()).toBe(0);
    await eventually(async () => workers.every((p) => !isProcessAlive(p)), { timeoutMs: 20_000 });
  });
});

describe('imap-server with IMAP_PROCESSES=2 as a child of npm start', () => {
  it('reports ready with the shared port, serves on it, and stops with its processes on SIGTERM', async () => {
    const child = fork(path.join(repoRoot, 'stack', 'dist', 'child.js'), ['imap-server'], {
      env: { PATH: process.env.PATH, DATABASE_URL: store.url, REDIS_URL: redis.url, DATA_DIR: dataDir, LOG_LEVEL: 'warn', IMAP_PORT: '0', IMAPS_PORT: '0', IMAP_PROCESSES: '2' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const ready = await new Promise<{ type: string; ports: Record<string, number> }>((resolve, reject) => {
        child.on('message', (m: { type: string; ports: Record<string, number> }) => (m.type === 'ready' ? resolve(m) : reject(new Error(JSON.stringify(m)))));
        void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      expect(ready.ports.port).toBeGreaterThan(0);
      expect(childrenOf(child.pid!)).toHaveLength(2);
      port = ready.ports.port!;
      expect((await connect()).greeting).toMatch(/^\* OK/);
      await closeAll();
      const workers = childrenOf(child.pid!);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await eventually(async () => workers.every((p) => !isProcessAlive(p)), { timeoutMs: 20_000 });
    } finally {
      child.kill('SIGKILL');
    }
  });
});
