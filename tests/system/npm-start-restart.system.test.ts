import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, isProcessAlive } from '../../core/src/local/process-utils.js';
import { eventually, repoRoot, runCommand, waitForSmtpGreeting } from '../helpers/services.js';

/**
 * `npm start` supervises its private PostgreSQL and Redis (hardening #12, finding 2): SIGKILL
 * either, and within 60 s it runs again (restarted by the stack, which logs the restart), /readyz
 * answers 200 and a message sent over SMTP is stored.
 */

const RECOVERY_MS = 60_000;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-restart-'));
fs.chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as the postgres user
let stack: ChildProcess | undefined;
let out = '';
let env: NodeJS.ProcessEnv;
let ports: { SMTP_PORT: number; HTTP_PORT: number; HTTPS_PORT: number; SUBMISSION_PORT: number; SMTPS_PORT: number; IMAP_PORT: number; IMAPS_PORT: number };

const cli = (...args: string[]) => runCommand(process.execPath, ['bin/mailyard.mjs', ...args], { env });

function postmasterPid(): number | null {
  try {
    const pidFile = path.join(fs.realpathSync(path.join(dataDir, 'postgres')), 'postmaster.pid');
    return Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  } catch {
    return null;
  }
}

function redisPid(): number | null {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dataDir, 'redis', 'server.json'), 'utf8')) as { pid: number }).pid;
  } catch {
    return null;
  }
}

async function readyz(): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${ports.HTTP_PORT}/readyz`, { signal: AbortSignal.timeout(5_000) })).status;
  } catch {
    return 0;
  }
}

/** SIGKILLs the process `pidOf` names and checks that the stack brings everything back within RECOVERY_MS. */
async function killAndRecover(name: string, pidOf: () => number | null, subject: string): Promise<void> {
  const old = pidOf();
  expect(old).toBeGreaterThan(0);
  const killedAt = Date.now();
  const remaining = () => Math.max(1, RECOVERY_MS - (Date.now() - killedAt));
  process.kill(old!, 'SIGKILL');
  await eventually(async () => !isProcessAlive(old!), { timeoutMs: 10_000, describe: () => `${name} ${old} still alive` });

  const fresh = await eventually(async () => {
    const pid = pidOf();
    return pid && pid !== old && isProcessAlive(pid) ? pid : null;
  }, { timeoutMs: remaining(), describe: () => `${name} was not restarted:\n${out}` });
  expect(fresh).not.toBe(old);
  const restartLog = out.split('\n').find((l) => l.includes('"event":"local.process.restarting"') && l.includes(`"process":"${name}"`));
  expect(restartLog, out).toBeDefined();
  expect(JSON.parse(restartLog!)).toMatchObject({ signal: 'SIGKILL', attempt: 1 });

  await eventually(async () => (await readyz()) === 200, { timeoutMs: remaining(), describe: async () => `/readyz ${await readyz()}\n${out}` });
  // A sender retries a 4xx; mail must flow again within the same minute.
  await eventually(
    async () => (await runCommand('swaks', ['--server', `127.0.0.1:${ports.SMTP_PORT}`, '--from', 'someone@remote.test', '--to', 'pat@restart.test', '--header', `Subject: ${subject}`, '--silent', '2'])).code === 0,
    { timeoutMs: remaining(), intervalMs: 500, describe: () => out },
  );
  const stored = await eventually(
    async () => {
      const r = await cli('message', 'list', 'pat@restart.test', '--json');
      const list = (JSON.parse(r.stdout || '[]') as Array<{ subject: string }>).filter((m) => m.subject === subject);
      return list.length > 0 ? list : null;
    },
    { timeoutMs: 30_000, intervalMs: 250, describe: () => `"${subject}" accepted but not stored:\n${out}` },
  );
  expect(stored).toHaveLength(1);
  expect(stack!.exitCode).toBeNull();
}

beforeAll(async () => {
  // A port `freePort` found free may be taken by another test before the stack binds it: then the
  // stack says EADDRINUSE and exits, and it is started again on other ports (at most three times).
  for (let attempt = 1; ; attempt++) {
    ports = { SMTP_PORT: await freePort(), HTTP_PORT: await freePort(), HTTPS_PORT: await freePort(), SUBMISSION_PORT: await freePort(), SMTPS_PORT: await freePort(), IMAP_PORT: await freePort(), IMAPS_PORT: await freePort() };
    env = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'warn', MAIL_HOSTNAME: 'mx.restart.test' };
    for (const [k, v] of Object.entries(ports)) env[k] = String(v);
    out = '';
    const started = spawn(process.execPath, ['stack/dist/main.js'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    stack = started;
    started.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    started.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(async () => out.includes('Mailyard is running') || started.exitCode !== null, { timeoutMs: 180_000, describe: () => out });
    if (started.exitCode === null || attempt === 3 || !out.includes('EADDRINUSE')) break;
  }
  expect(stack.exitCode, out).toBeNull();
  await waitForSmtpGreeting(ports.SMTP_PORT);
  expect((await cli('domain', 'add', 'restart.test')).code).toBe(0);
  expect((await cli('user', 'add', 'pat@restart.test', '--password', 'pat password 1')).code).toBe(0);
}, 240_000);

afterAll(async () => {
  if (stack && stack.exitCode === null) {
    stack.kill('SIGINT');
    await new Promise((r) => stack!.once('exit', r));
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start supervises its private PostgreSQL and Redis', () => {
  it('restarts a SIGKILLed PostgreSQL: /readyz is 200 again and mail is stored within a minute', async () => {
    await killAndRecover('postgres', postmasterPid, 'after postgres restart');
  }, 150_000);

  it('restarts a SIGKILLed redis-server: /readyz is 200 again and mail is stored within a minute', async () => {
    await killAndRecover('redis-server', redisPid, 'after redis restart');
  }, 150_000);

  it('stops for good on SIGINT: nothing is restarted after a deliberate stop', async () => {
    const pgPid = postmasterPid()!;
    stack!.kill('SIGINT');
    const code = await new Promise<number | null>((r) => stack!.once('exit', (c) => r(c)));
    expect(code, out).toBe(0);
    expect(isProcessAlive(pgPid)).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'redis', 'server.json'))).toBe(false);
  });
});
