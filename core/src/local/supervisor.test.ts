import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { restartDelay, supervise, type RestartBackoff } from './supervisor.js';
import { stopChild } from './process-utils.js';

/**
 * The supervisor behind `npm start`'s private PostgreSQL and Redis (hardening #12, finding 2),
 * on real child processes: a killed one is started again and the restart logged; one that exits
 * with code 0, or any after stop(), is not.
 */

function recorder() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function sleeper(): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore' });
}

describe('supervise', () => {
  it('doubles the delay from the first to the cap', () => {
    const backoff: RestartBackoff = { initialMs: 500, maxMs: 10_000, resetAfterMs: 60_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 100].map((n) => restartDelay(backoff, n))).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });

  it('starts a killed process again and logs the exit signal and the attempt', async () => {
    const { log, lines } = recorder();
    const started: ChildProcess[] = [sleeper()];
    const launch = async () => {
      const child = sleeper();
      started.push(child);
      return child;
    };
    const supervised = supervise(started[0]!, launch, (c) => stopChild(c, 'SIGTERM'), { name: 'sleeper', log, backoff: { initialMs: 10, maxMs: 40, resetAfterMs: 60_000 } });
    try {
      started[0]!.kill('SIGKILL');
      await until(() => lines.some((l) => l.event === 'local.process.restarted'), 'a restart');
      started[1]!.kill('SIGKILL');
      await until(() => lines.filter((l) => l.event === 'local.process.restarted').length === 2, 'a second restart');
      expect(lines.filter((l) => l.event === 'local.process.restarting')).toMatchObject([
        { process: 'sleeper', signal: 'SIGKILL', code: null, attempt: 1, delayMs: 10 },
        { process: 'sleeper', signal: 'SIGKILL', code: null, attempt: 2, delayMs: 20 },
      ]);
    } finally {
      await supervised.stop();
    }
    expect(started).toHaveLength(3);
    expect(started[2]!.signalCode).toBe('SIGTERM');
  });

  it('does not restart a process that exited with code 0 (stopped on purpose)', async () => {
    const { log, lines } = recorder();
    const first = spawn('sh', ['-c', 'read line; exit 0'], { stdio: ['pipe', 'ignore', 'ignore'] });
    let launches = 0;
    const supervised = supervise(first, async () => (launches++, sleeper()), (c) => stopChild(c, 'SIGTERM'), { name: 'sh', log });
    first.stdin!.end('stop\n');
    await until(() => lines.some((l) => l.event === 'local.process.stopped'), 'the stop to be logged');
    expect(lines.map((l) => l.event)).toEqual(['local.process.stopped']);
    await supervised.stop();
    expect(launches).toBe(0);
  });

  it('stops, and does not keep, a process whose restart was under way when stop() came', async () => {
    const { log, lines } = recorder();
    const first = sleeper();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let launched: ChildProcess | undefined;
    const launch = async () => {
      launched = sleeper();
      await gate;
      return launched;
    };
    const supervised = supervise(first, launch, (c) => stopChild(c, 'SIGTERM'), { name: 'sleeper', log, backoff: { initialMs: 10, maxMs: 10, resetAfterMs: 60_000 } });
    first.kill('SIGKILL');
    await until(() => launched !== undefined, 'the restart to begin');
    const stopping = supervised.stop();
    release();
    await stopping;
    expect(launched!.signalCode).toBe('SIGTERM');
    expect(lines.map((l) => l.event)).toEqual(['local.process.restarting']);
  });
});
