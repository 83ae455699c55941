import type { Logger } from '../log/logger.js';
import type { Running } from './run-main.js';

/**
 * How every service's `start()` opens what it needs (pools, Redis connections, listeners,
 * workers, timers) so that it can close it: each thing is registered as it is opened, and all of
 * them are closed in reverse order by `stop()`, or by `start()` itself when it fails halfway, so a
 * failed start leaves nothing open behind it.
 */

export interface Resources {
  /** Registers how to close what was just opened; returns it. Closed last-opened first. */
  add<T>(resource: T, close: (resource: T) => unknown): T;
}

/**
 * Runs `open`, then returns what it returned plus `stop()`, which closes everything registered.
 * When `open` throws, closes what it had registered and rethrows. A close that fails is logged as
 * `service.close_failed`, the others still run, and `stop()` rejects with the first failure.
 */
export async function startService<T extends object>(log: Logger, open: (resources: Resources) => Promise<T>): Promise<T & Running> {
  const closers: Array<() => unknown> = [];
  let stopping: Promise<void> | null = null;
  const closeAll = async (): Promise<void> => {
    let failure: unknown = null;
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        log.warn({ event: 'service.close_failed', err: (err as Error).message });
        failure ??= err;
      }
    }
    if (failure) throw failure;
  };
  const resources: Resources = {
    add(resource, close) {
      closers.push(() => close(resource));
      return resource;
    },
  };
  let started: T;
  try {
    started = await open(resources);
  } catch (err) {
    await closeAll().catch(() => undefined); // each failure is logged; the start failure is the one to report
    throw err;
  }
  return {
    ...started,
    stop() {
      stopping ??= closeAll();
      return stopping;
    },
  };
}
