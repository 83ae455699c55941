// Shared by the benchmarks: child processes that are always stopped by PID, cleanup steps that
// run in a finally block, percentiles, and /proc memory readings. Plain Node, no dependencies.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const round = (n, digits = 1) => (n === null || n === undefined || Number.isNaN(n) ? null : Math.round(n * 10 ** digits) / 10 ** digits);

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Steps to run at the end (last pushed runs first), and every child still alive. */
export const cleanups = [];
const children = new Set();

/** Spawns a child we own: its output is kept (tail) and optionally logged to a file. */
export function startChild(command, args, options = {}) {
  const { logFile, ...spawnOptions } = options;
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let tail = '';
  const out = logFile ? fs.createWriteStream(logFile) : null;
  const onData = (chunk) => {
    tail = (tail + chunk.toString()).slice(-8000);
    out?.write(chunk);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.once('exit', () => out?.end());
  child.tail = () => tail;
  return child;
}

export const exited = (child) => child.exitCode !== null || child.signalCode !== null;

/** Signals one child by its PID and waits for it; SIGKILL after the timeout. */
export async function stopPid(child, signal = 'SIGTERM', timeoutMs = 20_000) {
  if (!child || exited(child)) return;
  const done = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(child.pid, signal);
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, timeoutMs);
  await done;
  clearTimeout(timer);
}

export async function runCleanups(tag) {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (err) {
      console.error(`[${tag}] cleanup step failed: ${err.message}`);
    }
  }
  for (const child of [...children]) await stopPid(child, 'SIGKILL', 2_000);
}

/** Peak and current resident memory of a process, in kB (null when it is gone). */
export function memoryKb(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => {
      const m = text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
      return m ? Number(m[1]) : null;
    };
    return { vmHWMKb: kb('VmHWM'), vmRSSKb: kb('VmRSS') };
  } catch {
    return { vmHWMKb: null, vmRSSKb: null };
  }
}
