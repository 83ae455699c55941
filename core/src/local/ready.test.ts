import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { stopChild } from './process-utils.js';
import { waitForReady, type StartupAnswer } from './ready.js';

/** waitForReady on real forked children that answer, fail, exit or hang while starting. */

const children: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => stopChild(c, 'SIGKILL', 2_000)));
});

/** A node child running `code` with an IPC channel. */
function child(code: string): ChildProcess {
  const c = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  children.push(c);
  return c;
}

const read = (m: unknown): StartupAnswer<number> => {
  const message = m as { kind?: string; port?: number; why?: string };
  if (message.kind === 'ready') return { ready: message.port ?? -1 };
  if (message.kind === 'failed') return { failed: message.why ?? '' };
  return undefined;
};

describe('waitForReady', () => {
  it('resolves with what the ready message reports, after messages that are not start-up answers', async () => {
    const c = child(`process.send({ kind: 'log' }); process.send({ kind: 'ready', port: 2525 }); setInterval(() => {}, 1000);`);
    await expect(waitForReady(c, read, { name: 'svc', timeoutMs: 30_000 })).resolves.toBe(2525);
  });

  it('rejects with the reason a child gives for failing', async () => {
    const c = child(`process.send({ kind: 'failed', why: 'port 25 in use' }); setInterval(() => {}, 1000);`);
    await expect(waitForReady(c, read, { name: 'smtp-server#2', timeoutMs: 30_000 })).rejects.toThrow('smtp-server#2: port 25 in use');
  });

  it('rejects when the child exits before it is ready', async () => {
    const c = child(`process.exit(3)`);
    await expect(waitForReady(c, read, { name: 'svc', timeoutMs: 30_000 })).rejects.toThrow('svc exited while starting (code 3)');
  });

  it('rejects when the child stays silent past the deadline, or the start is abandoned', async () => {
    const silent = child(`setInterval(() => {}, 1000);`);
    await expect(waitForReady(silent, read, { name: 'svc', timeoutMs: 200 })).rejects.toThrow('svc was not ready within 0.2 s');
    const abandoned = new AbortController();
    const waiting = waitForReady(child(`setInterval(() => {}, 1000);`), read, { name: 'svc', timeoutMs: 30_000, abort: abandoned.signal });
    abandoned.abort();
    await expect(waiting).rejects.toThrow('svc: start-up abandoned');
  });
});
