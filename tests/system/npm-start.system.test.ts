import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../core/src/local/process-utils.js';
import { eventually, repoRoot, runCommand, waitForSmtpGreeting } from '../helpers/services.js';

/**
 * `npm start` on embedded defaults: a private PostgreSQL and Redis under DATA_DIR, every service
 * in its own process. Create a user with the CLI, receive a message over SMTP, find it in the store;
 * stop with SIGINT; the CLI still finds it with the stack down (it starts the database for itself).
 */

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-start-'));
fs.chmodSync(dataDir, 0o755);
let stack: ChildProcess | undefined;

afterAll(async () => {
  if (stack && stack.exitCode === null) {
    stack.kill('SIGINT');
    await new Promise((r) => stack!.once('exit', r));
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
});

// Each service is a process that loads its own modules: on a loaded machine start-up outlasts the
// 60 s default (and the first test builds first).
describe('npm start', () => {
  it('runs everything on embedded defaults, receives mail for a CLI-created user, and stops cleanly', async () => {
    const ports = { SMTP_PORT: await freePort(), HTTP_PORT: await freePort(), HTTPS_PORT: await freePort(), SUBMISSION_PORT: await freePort(), SMTPS_PORT: await freePort(), IMAP_PORT: await freePort(), IMAPS_PORT: await freePort() };
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'warn', MAIL_HOSTNAME: 'mx.start.test' };
    for (const [k, v] of Object.entries(ports)) env[k] = String(v);

    // `npm start` runs `node scripts/start.mjs`; run that directly so the PID we signal is the launcher's.
    stack = spawn(process.execPath, ['scripts/start.mjs'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    stack.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    stack.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(async () => out.includes('Mailyard is running') || stack!.exitCode !== null, { timeoutMs: 180_000, describe: () => out });
    expect(out).toContain(`SMTP (MX)     127.0.0.1:${ports.SMTP_PORT}`);
    expect(out).toContain(`Webmail       http://127.0.0.1:${ports.HTTP_PORT}/`);
    await waitForSmtpGreeting(ports.SMTP_PORT);
    const ready = await fetch(`http://127.0.0.1:${ports.HTTP_PORT}/readyz`);
    expect(ready.status).toBe(200);
    // The webmail is built and served by the same command.
    const app = await fetch(`http://127.0.0.1:${ports.HTTP_PORT}/`);
    expect(app.status).toBe(200);
    expect(await app.text()).toMatch(/<script type="module"[^>]+src="\/assets\/index-[\w-]+\.js"/);

    const cli = (...args: string[]) => runCommand(process.execPath, ['bin/mailyard.mjs', ...args], { env });
    expect((await cli('domain', 'add', 'start.test')).code).toBe(0);
    expect((await cli('user', 'add', 'pat@start.test', '--password', 'pat password 1')).code).toBe(0);
    const duplicate = await cli('user', 'add', 'pat@start.test', '--password', 'pat password 1');
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('pat@start.test already exists');

    const swaks = await runCommand('swaks', ['--server', `127.0.0.1:${ports.SMTP_PORT}`, '--from', 'someone@remote.test', '--to', 'pat@start.test', '--header', 'Subject: smoke test', '--silent', '2']);
    expect(swaks.code, swaks.stdout + swaks.stderr).toBe(0);

    const listed = await eventually(
      async () => {
        const r = await cli('message', 'list', 'pat@start.test', '--json');
        const list = JSON.parse(r.stdout || '[]') as Array<{ subject: string; from: Array<{ address: string }> }>;
        return list.length > 0 ? list : null;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(listed).toHaveLength(1);
    expect(listed[0]!.subject).toBe('smoke test');
    expect(listed[0]!.from[0]!.address).toBe('someone@remote.test');

    stack.kill('SIGINT');
    const code = await new Promise<number | null>((r) => stack!.once('exit', (c) => r(c)));
    expect(code, out).toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);

    // With the stack down the CLI starts the private database for the command, and the mail is still there.
    const after = await cli('message', 'list', 'pat@start.test');
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toContain('smoke test');
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
  }, 240_000);

  it('when a port is taken, exits 1 after stopping what it had started, its private PostgreSQL and Redis included', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-start-fail-'));
    fs.chmodSync(dir, 0o755);
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dir, LOG_LEVEL: 'warn', MAIL_HOSTNAME: 'mx.start.test' };
      for (const key of ['SMTP_PORT', 'SUBMISSION_PORT', 'SMTPS_PORT', 'IMAP_PORT', 'IMAPS_PORT', 'HTTPS_PORT']) env[key] = String(await freePort());
      // The backend's port is taken: the services already started or still starting are stopped.
      env.HTTP_PORT = String((taken.address() as net.AddressInfo).port);
      const failing = spawn(process.execPath, ['stack/dist/main.js'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      failing.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      failing.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((r) => failing.once('exit', (c) => r(c)));
      expect(code, out).toBe(1);
      expect(out).toMatch(/Mailyard failed to start: .*EADDRINUSE/);
      expect(fs.existsSync(path.join(dir, 'postgres', 'postmaster.pid'))).toBe(false);
      expect(fs.existsSync(path.join(dir, 'redis', 'server.json'))).toBe(false);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
