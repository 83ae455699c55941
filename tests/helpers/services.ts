import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');

export interface ServiceProcess {
  child: ChildProcess;
  output(): string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait: a crash. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

/** Runs a built service (`<name>/dist/main.js`) as its own process with exactly `env` (plus PATH). */
export function spawnService(name: string, env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, [path.join(repoRoot, name, 'dist', 'main.js')], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    output: () => out,
    exited,
    async stop() {
      if (alive()) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Resolves when something on host:port sends an SMTP greeting; rejects after `timeoutMs`. */
export async function waitForSmtpGreeting(port: number, timeoutMs = 30_000, host = '127.0.0.1', banner?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = '';
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host);
      socket.setTimeout(2_000, () => socket.destroy());
      socket.once('data', (d) => {
        socket.end('QUIT\r\n');
        seen = d.toString().trim();
        // With `banner`: the greeting must name it, or another server took the port (ours then failed to bind).
        resolve(seen.startsWith('220') && (banner === undefined || seen.includes(banner)));
      });
      socket.once('error', () => resolve(false));
      socket.once('close', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`no SMTP greeting${banner ? ` naming ${banner}` : ''} on ${host}:${port} within ${timeoutMs} ms${seen ? ` (last greeting: ${seen})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls `check` until it returns a truthy value; rejects with `describe()` after the deadline. */
export async function eventually<T>(check: () => Promise<T | null | undefined | false>, options: { timeoutMs: number; intervalMs?: number; describe?: () => Promise<string> | string }): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${options.timeoutMs} ms${options.describe ? `: ${await options.describe()}` : ''}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}

/** Runs a command to completion, collecting output. */
export function runCommand(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Without input, stdin is /dev/null: a pipe to a command that never reads it (`ss`) and exits
    // first fails our end of it with EPIPE, an error nobody waits for.
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: repoRoot, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) {
      // A command may exit without reading all of it: its exit code and output say what happened.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(options.input);
    }
  });
}
