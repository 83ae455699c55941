import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../core/src/local/process-utils.js';
import { startTestSentinel, type TestSentinel } from '../helpers/redis-sentinel.js';
import { eventually, repoRoot, waitForSmtpGreeting } from '../helpers/services.js';

/**
 * `npm start` with WORKER_HEALTH_PORT=0, two SMTP processes and Redis under Sentinel: each service
 * process answers its probes and /metrics on a port of its own, listed in the banner (0: each binds
 * a free one; a fixed WORKER_HEALTH_PORT gives the setting plus the place in that list, see
 * stack/src/service-processes.test.ts), the SMTP processes (node:cluster workers) each with their
 * own figures; the services use the master the sentinels name, and no private redis-server is started.
 */

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-probes-'));
fs.chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as the postgres user
const probeNames = ['inbound-worker', 'outbound-worker', 'imap-server', 'smtp-server#1', 'smtp-server#2'];
let sentinel: TestSentinel;
let stack: ChildProcess;
let out = '';
let smtpPort: number;
/** The probe ports the banner lists, in its order. */
let probePorts: number[];

/** Sum of `mailyard_smtp_sessions_total{listener="mx"}` in one /metrics text (0 when not yet counted). */
function mxSessions(metrics: string): number {
  const m = /^mailyard_smtp_sessions_total\{listener="mx"\} (\d+)$/m.exec(metrics);
  return m ? Number(m[1]) : 0;
}

const probe = (index: number, route: string) => fetch(`http://127.0.0.1:${probePorts[index]}${route}`);

beforeAll(async () => {
  sentinel = await startTestSentinel();
  const ports = { SMTP_PORT: await freePort(), HTTP_PORT: await freePort(), HTTPS_PORT: await freePort(), SUBMISSION_PORT: await freePort(), SMTPS_PORT: await freePort(), IMAP_PORT: await freePort(), IMAPS_PORT: await freePort() };
  smtpPort = ports.SMTP_PORT;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'warn', MAIL_HOSTNAME: 'mx.probes.test', SMTP_PROCESSES: '2', WORKER_HEALTH_PORT: '0', ...sentinel.env };
  for (const [k, v] of Object.entries(ports)) env[k] = String(v);
  stack = spawn(process.execPath, ['stack/dist/main.js'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  stack.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  stack.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(async () => out.includes('Mailyard is running') || stack.exitCode !== null, { timeoutMs: 180_000, describe: () => out });
  expect(stack.exitCode, out).toBeNull();
  const listed = /^ {2}Probes {8}(.*?) {2}\(\/healthz, \/readyz, \/metrics\)$/m.exec(out)?.[1] ?? '';
  probePorts = listed.split(', ').map((entry) => Number(/ :(\d+)$/.exec(entry)?.[1]));
  expect(listed.split(', ').map((entry) => entry.replace(/ :\d+$/, '')), out).toEqual(probeNames);
  await waitForSmtpGreeting(smtpPort);
}, 240_000);

afterAll(async () => {
  if (stack && stack.exitCode === null && stack.signalCode === null) {
    stack.kill('SIGINT');
    await new Promise((r) => stack.once('exit', r));
  }
  await sentinel?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start with WORKER_HEALTH_PORT and Redis under Sentinel', () => {
  it('gives each service process its own probe and metrics port, listed in the banner', async () => {
    expect(new Set(probePorts).size).toBe(probeNames.length);
    for (const port of probePorts) expect(port).toBeGreaterThan(0);
    for (const [i, name] of probeNames.entries()) {
      const ready = await probe(i, '/readyz');
      expect(ready.status, name).toBe(200);
      expect(await ready.json(), name).toMatchObject({ status: 'ready', checks: { postgres: true, redis: true } });
      const metrics = await probe(i, '/metrics');
      expect(metrics.status, name).toBe(200);
      expect(await metrics.text(), name).toMatch(/^process_resident_memory_bytes \d+$/m);
    }
  });

  it("answers each SMTP process's /metrics with that process's own figures", async () => {
    const smtpIndexes = [3, 4];
    const counts = async () => Promise.all(smtpIndexes.map(async (i) => mxSessions(await (await probe(i, '/metrics')).text())));
    const before = await counts();
    await waitForSmtpGreeting(smtpPort);
    // The session is counted when it starts; poll until its process shows it.
    const after = await eventually(
      async () => {
        const now = await counts();
        return now.some((n, i) => n !== before[i]) ? now : null;
      },
      { timeoutMs: 15_000, describe: () => `SMTP sessions per process: ${before.join(', ')}` },
    );
    // One connection, counted by exactly one of the two processes.
    expect(after.map((n, i) => n - before[i]!).sort()).toEqual([0, 1]);
  });

  it('uses the master the sentinels name, starting no private redis-server', async () => {
    expect(out).toContain(`  Redis         Sentinel master mailyard via 127.0.0.1:${sentinel.sentinelPort}`);
    expect(fs.existsSync(path.join(dataDir, 'redis'))).toBe(false);
    const master = sentinel.connectMaster();
    try {
      // The services' connections (queues, events, locks) are the master's clients.
      const clients = (await master.client('LIST')) as string;
      expect(clients.trim().split('\n').length).toBeGreaterThan(probeNames.length);
    } finally {
      master.disconnect();
    }
  });
});
