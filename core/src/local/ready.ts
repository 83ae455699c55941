import type { EventEmitter } from 'node:events';

/**
 * Waiting for a forked process to say it is ready: `npm start`'s service processes
 * (stack/src/service-process.ts) and the IMAP cluster's processes (imap-server/src/cluster.ts) both
 * start a child, wait for its first start-up message over IPC, and give up when it exits first, hangs,
 * or the start is abandoned. The child is a ChildProcess or a node:cluster Worker (both emit
 * 'message' and 'exit' with the same arguments).
 */

/** What a start-up message means: ready (with what the child reports), failed, or not a start-up message at all. */
export type StartupAnswer<T> = { ready: T } | { failed: string } | undefined;

export interface WaitReadyOptions {
  /** Names the child in errors: `imap-server#2`. */
  name: string;
  timeoutMs: number;
  /** Abandons the wait (another child failed to start). */
  abort?: AbortSignal | undefined;
}

/** Resolves with the first start-up message that says ready; rejects on failure, exit, timeout or abort. */
export function waitForReady<T>(child: EventEmitter, read: (message: unknown) => StartupAnswer<T>, options: WaitReadyOptions): Promise<T> {
  const { name, timeoutMs, abort } = options;
  return new Promise((resolve, reject) => {
    const settle = (result: { ready: T } | { error: Error }) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      abort?.removeEventListener('abort', onAbort);
      if ('error' in result) reject(result.error);
      else resolve(result.ready);
    };
    const onMessage = (message: unknown) => {
      const answer = read(message);
      if (answer === undefined) return;
      settle('ready' in answer ? answer : { error: new Error(`${name}: ${answer.failed}`) });
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => settle({ error: new Error(`${name} exited while starting (${signal ?? `code ${code}`})`) });
    const onAbort = () => settle({ error: new Error(`${name}: start-up abandoned`) });
    const timer = setTimeout(() => settle({ error: new Error(`${name} was not ready within ${timeoutMs / 1000} s`) }), timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (abort?.aborted) return onAbort();
    abort?.addEventListener('abort', onAbort);
  });
}
