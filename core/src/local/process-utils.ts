import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

/** A free TCP port on loopback, picked by the kernel. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function commandExists(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Waits for `check` to succeed, polling; fails early if `child` exits, with its output. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; child?: ChildProcess; output?: () => string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let exited = false;
  options.child?.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${what} exited during start-up:\n${options.output?.() ?? ''}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not become ready within ${options.timeoutMs} ms:\n${options.output?.() ?? ''}`);
}

/** Keeps the last `max` characters a child wrote, for error messages. */
export function captureOutput(child: ChildProcess, max = 4000): () => string {
  let buffer = '';
  const onData = (chunk: Buffer) => {
    buffer = (buffer + chunk.toString()).slice(-max);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return () => buffer;
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, timeoutMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export function readSecret(file: string, create: () => string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const value = create();
    fs.writeFileSync(file, `${value}\n`, { mode: 0o600 });
    return value;
  }
}

export { spawn };
