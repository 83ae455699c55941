import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

/**
 * A free TCP port on loopback. The kernel picks it (from its ephemeral range) unless
 * MAILYARD_PORT_RANGE is set (`low-high`, as the test suite sets it): then one from that range,
 * tried from a random place on, that binds now and that this process has not handed out before. Ports outside the
 * kernel's ephemeral range (32768–60999 on Linux) cannot be taken by an outgoing connection's
 * source port between the pick and the moment the caller's child process binds it, the race that
 * made a test's stack exit with EADDRINUSE when many tests run at once.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const range = portRange(process.env.MAILYARD_PORT_RANGE);
  if (!range) return bindable(host, 0);
  // Every port of the range once, from a random one on (processes that pick at once rarely start at the same place).
  const size = range.high - range.low + 1;
  const start = Math.floor(Math.random() * size);
  for (let i = 0; i < size; i++) {
    const port = range.low + ((start + i) % size);
    if (handedOut.has(port)) continue;
    const bound = await bindable(host, port).catch(() => null);
    if (bound === null) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in MAILYARD_PORT_RANGE=${process.env.MAILYARD_PORT_RANGE}: widen the range or unset it`);
}

/** Ports freePort has handed out in this process (from MAILYARD_PORT_RANGE): not handed out twice. */
const handedOut = new Set<number>();

function portRange(text: string | undefined): { low: number; high: number } | null {
  if (!text) return null;
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  const [low, high] = m ? [Number(m[1]), Number(m[2])] : [0, -1];
  if (!m || low < 1024 || high > 65535 || high - low < 100) throw new Error(`MAILYARD_PORT_RANGE=${text} is not a range like 20000-32000 (1024-65535, at least 100 ports)`);
  return { low, high };
}

/** Binds `port` (0: any) on `host` and lets it go; resolves with the port bound. */
function bindable(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(port, host, () => {
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
