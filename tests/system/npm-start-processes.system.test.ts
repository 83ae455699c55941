import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, isProcessAlive } from '../../core/src/local/process-utils.js';
import { eventually, repoRoot, runCommand, waitForSmtpGreeting } from '../helpers/services.js';

/**
 * `npm start` runs each service in its own child process (issue 14, "Cores"), SMTP in
 * SMTP_PROCESSES processes sharing the SMTP port: the services have their own PIDs; SIGKILLed
 * SMTP processes are started again and mail is accepted again; the per-IP connection limit holds
 * across the SMTP processes; SIGINT to the parent stops every child.
 */

const RECOVERY_MS = 60_000;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-processes-'));
fs.chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as the postgres user
let stack: ChildProcess;
let out = '';
let env: NodeJS.ProcessEnv;
let smtpPort: number;

const cli = (...args: string[]) => runCommand(process.execPath, ['bin/mailyard.mjs', ...args], { env });

/** The node children of the stack, by service (from /proc: parent PID and command line). */
function serviceChildren(): Map<string, number[]> {
  const byService = new Map<string, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    let args: string[];
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const childIndex = args.findIndex((a) => a.endsWith(path.join('stack', 'dist', 'child.js')));
    if (ppid !== stack.pid || childIndex < 0) continue;
    const service = args[childIndex + 1]!;
    byService.set(service, [...(byService.get(service) ?? []), Number(entry)]);
  }
  return byService;
}

/** The pid a server's state file names, or null when there is none. */
function pidIn(file: string, read: (text: string) => unknown): number | null {
  try {
    const pid = Number(read(fs.readFileSync(file, 'utf8')));
    return pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

async function sendAndFind(subject: string, timeoutMs: number): Promise<void> {
  // A sender retries a 4xx; mail must flow again within the same minute.
  await eventually(
    async () => (await runCommand('swaks', ['--server', `127.0.0.1:${smtpPort}`, '--from', 'someone@remote.test', '--to', 'pat@processes.test', '--header', `Subject: ${subject}`, '--silent', '2'])).code === 0,
    { timeoutMs, intervalMs: 500, describe: () => out },
  );
  const stored = await eventually(
    async () => {
      const r = await cli('message', 'list', 'pat@processes.test', '--json');
      const list = (JSON.parse(r.stdout || '[]') as Array<{ subject: string }>).filter((m) => m.subject === subject);
      return list.length > 0 ? list : null;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  expect(stored).toHaveLength(1);
}

/** Opens `count` connections at once and returns each one's first reply line, all held open until every one answered. */
async function greetings(count: number): Promise<string[]> {
  const sockets: net.Socket[] = [];
  try {
    return await Promise.all(
      Array.from({ length: count }, () =>
        new Promise<string>((resolve, reject) => {
          const socket = net.connect(smtpPort, '127.0.0.1');
          sockets.push(socket);
          socket.setTimeout(30_000, () => reject(new Error('no greeting within 30 s')));
          socket.once('error', reject);
          socket.once('data', (d: Buffer) => resolve(d.toString().split('\r\n')[0]!));
        }),
      ),
    );
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}

beforeAll(async () => {
  const ports = { SMTP_PORT: await freePort(), HTTP_PORT: await freePort(), HTTPS_PORT: await freePort(), SUBMISSION_PORT: await freePort(), SMTPS_PORT: await freePort(), IMAP_PORT: await freePort(), IMAPS_PORT: await freePort() };
  smtpPort = ports.SMTP_PORT;
  env = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'warn', MAIL_HOSTNAME: 'mx.processes.test', SMTP_PROCESSES: '2', SMTP_MAX_CONNECTIONS_PER_IP: '2' };
  for (const [k, v] of Object.entries(ports)) env[k] = String(v);
  stack = spawn(process.execPath, ['stack/dist/main.js'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  stack.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  stack.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(async () => out.includes('Mailyard is running') || stack.exitCode !== null, { timeoutMs: 180_000, describe: () => out });
  expect(stack.exitCode, out).toBeNull();
  expect(out).toContain(`SMTP (MX)     127.0.0.1:${smtpPort} (2 processes)`);
  await waitForSmtpGreeting(smtpPort);
  expect((await cli('domain', 'add', 'processes.test')).code).toBe(0);
  expect((await cli('user', 'add', 'pat@processes.test', '--password', 'pat password 1')).code).toBe(0);
}, 240_000);

afterAll(async () => {
  if (stack.exitCode === null && stack.signalCode === null) {
    stack.kill('SIGINT');
    await new Promise((r) => stack.once('exit', r));
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start runs the services as separate processes', () => {
  it('runs each service in its own process, SMTP in two, and files mail through them', async () => {
    const children = serviceChildren();
    expect(Object.fromEntries([...children].map(([service, pids]) => [service, pids.length]))).toEqual({
      'inbound-worker': 1,
      'outbound-worker': 1,
      'smtp-server': 2,
      'imap-server': 1,
      backend: 1,
    });
    const pids = [...children.values()].flat();
    expect(new Set([...pids, stack.pid]).size).toBe(pids.length + 1);
    expect((await fetch(`http://127.0.0.1:${env.HTTP_PORT}/readyz`)).status).toBe(200);
    await sendAndFind('through the processes', 30_000);
  });

  it('holds the per-IP connection limit across the SMTP processes (each counts its share)', async () => {
    const lines = await greetings(4);
    const accepted = lines.filter((l) => l.startsWith('220'));
    expect(accepted.length, lines.join('\n')).toBeGreaterThanOrEqual(1);
    expect(accepted.length, lines.join('\n')).toBeLessThanOrEqual(2);
    for (const line of lines.filter((l) => !l.startsWith('220'))) expect(line).toMatch(/^421 /);
  });

  it('restarts SIGKILLed SMTP processes (logged) and accepts mail again within a minute', async () => {
    const old = serviceChildren().get('smtp-server')!;
    expect(old).toHaveLength(2);
    const killedAt = Date.now();
    const remaining = () => Math.max(1, RECOVERY_MS - (Date.now() - killedAt));
    for (const pid of old) process.kill(pid, 'SIGKILL');
    await eventually(async () => old.every((pid) => !isProcessAlive(pid)), { timeoutMs: 10_000, describe: () => `still alive: ${old.join(', ')}` });

    const fresh = await eventually(
      async () => {
        const pids = serviceChildren().get('smtp-server') ?? [];
        return pids.length === 2 && pids.every((pid) => !old.includes(pid)) ? pids : null;
      },
      { timeoutMs: remaining(), describe: () => `the SMTP processes were not restarted:\n${out}` },
    );
    expect(fresh).toHaveLength(2);
    const restarts = out.split('\n').filter((l) => l.includes('"event":"local.process.restarting"') && l.includes('"process":"smtp-server#'));
    expect(restarts.map((l) => (JSON.parse(l) as { process: string; signal: string }).signal)).toEqual(['SIGKILL', 'SIGKILL']);
    await sendAndFind('after the SMTP processes restarted', remaining());
    expect(stack.exitCode).toBeNull();
  }, 150_000);

  it('stops every child on SIGINT to the parent, then exits 0', async () => {
    const pids = [...serviceChildren().values()].flat();
    expect(pids).toHaveLength(6);
    stack.kill('SIGINT');
    const code = await new Promise<number | null>((r) => stack.once('exit', (c) => r(c)));
    expect(code, out).toBe(0);
    expect(pids.filter((pid) => isProcessAlive(pid))).toEqual([]);
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
  }, 60_000);

  // Kept last: it needs a stack of its own.
  it('stops its service processes when the parent dies (SIGKILL)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-orphans-'));
    fs.chmodSync(dir, 0o755);
    const own: NodeJS.ProcessEnv = { ...env, DATA_DIR: dir, SMTP_PROCESSES: '1' };
    for (const key of ['SMTP_PORT', 'SUBMISSION_PORT', 'SMTPS_PORT', 'IMAP_PORT', 'IMAPS_PORT', 'HTTP_PORT', 'HTTPS_PORT']) own[key] = String(await freePort());
    let ownOut = '';
    stack = spawn(process.execPath, ['stack/dist/main.js'], { cwd: repoRoot, env: own, stdio: ['ignore', 'pipe', 'pipe'] });
    stack.stdout!.on('data', (d: Buffer) => (ownOut += d.toString()));
    stack.stderr!.on('data', (d: Buffer) => (ownOut += d.toString()));
    try {
      await eventually(async () => ownOut.includes('Mailyard is running') || stack.exitCode !== null, { timeoutMs: 180_000, describe: () => ownOut });
      const pids = [...serviceChildren().values()].flat();
      expect(pids).toHaveLength(5);
      stack.kill('SIGKILL');
      await eventually(async () => pids.every((pid) => !isProcessAlive(pid)), { timeoutMs: 30_000, describe: () => `left: ${pids.filter((pid) => isProcessAlive(pid)).join(', ')}` });
    } finally {
      // What the killed parent ran besides them: its private PostgreSQL and Redis, which outlive it.
      const leftovers = [pidIn(path.join(dir, 'postgres', 'postmaster.pid'), (t) => t.split('\n')[0]), pidIn(path.join(dir, 'redis', 'server.json'), (t) => (JSON.parse(t) as { pid: number }).pid)];
      for (const pid of leftovers) if (pid) process.kill(pid, 'SIGINT');
      await eventually(async () => leftovers.every((pid) => !pid || !isProcessAlive(pid)), { timeoutMs: 30_000 });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
