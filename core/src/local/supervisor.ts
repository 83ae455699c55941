import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../log/logger.js';

/**
 * Keeps a private server process (PostgreSQL, redis-server) running for `npm start`: when it
 * dies (a crash, a SIGKILL, the OOM killer), it is started again after a delay that doubles from
 * `initialMs` to `maxMs`, back to `initialMs` once a run lasted `resetAfterMs`. Each restart is
 * logged. An exit with code 0 is a deliberate stop (Ctrl-C reaches the whole process group, or an
 * operator stopped it): it is not restarted, nor is anything after `stop()`.
 */

export interface RestartBackoff {
  initialMs: number;
  maxMs: number;
  resetAfterMs: number;
}

export const defaultRestartBackoff: RestartBackoff = { initialMs: 500, maxMs: 10_000, resetAfterMs: 60_000 };

export interface SuperviseOptions {
  /** Names the process in log lines: `postgres`, `redis-server`. */
  name: string;
  log: Logger;
  backoff?: RestartBackoff;
  /** Called with each process started again, once it is ready. */
  onRestarted?: (child: ChildProcess) => void;
}

export interface Supervised {
  /** Stops supervising, then stops the current process with `stopProcess`. */
  stop(): Promise<void>;
}

/** The delay before restart `attempt` (1, 2, …). */
export function restartDelay(backoff: RestartBackoff, attempt: number): number {
  return Math.min(backoff.initialMs * 2 ** Math.min(attempt - 1, 30), backoff.maxMs);
}

/**
 * Supervises `first` (already started and ready). `launch` starts a new process and resolves once
 * it is ready (it must not leave a process behind when it throws); `stopProcess` stops one.
 */
export function supervise(
  first: ChildProcess,
  launch: () => Promise<ChildProcess>,
  stopProcess: (child: ChildProcess) => Promise<void>,
  options: SuperviseOptions,
): Supervised {
  const backoff = options.backoff ?? defaultRestartBackoff;
  let current = first;
  let startedAt = Date.now();
  let attempt = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let relaunching: Promise<void> | undefined;

  const schedule = (reason: { code: number | null; signal: NodeJS.Signals | null } | { error: string }) => {
    attempt += 1;
    const delayMs = restartDelay(backoff, attempt);
    options.log.warn({ event: 'local.process.restarting', process: options.name, ...reason, attempt, delayMs });
    timer = setTimeout(() => {
      timer = undefined;
      relaunching = relaunch();
    }, delayMs);
  };

  const relaunch = async () => {
    let next: ChildProcess;
    try {
      next = await launch();
    } catch (err) {
      if (!stopped) schedule({ error: (err as Error).message.split('\n')[0]! });
      return;
    }
    if (stopped) {
      await stopProcess(next);
      return;
    }
    current = next;
    startedAt = Date.now();
    watch(next);
    options.log.warn({ event: 'local.process.restarted', process: options.name, pid: next.pid, attempt });
    options.onRestarted?.(next);
  };

  const watch = (child: ChildProcess) => {
    child.once('exit', (code, signal) => {
      if (stopped || child !== current) return;
      if (code === 0) {
        options.log.warn({ event: 'local.process.stopped', process: options.name, code, signal });
        return;
      }
      if (Date.now() - startedAt >= backoff.resetAfterMs) attempt = 0;
      schedule({ code, signal });
    });
  };
  watch(first);

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await relaunching;
      await stopProcess(current);
    },
  };
}
