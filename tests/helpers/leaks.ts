import { createHook } from 'node:async_hooks';
import { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';
import { eventually } from './services.js';

/** Resources of this process a service may leave open: sockets (and connects in progress), listening servers, timers. */
const TRACKED = new Set(['TCPWRAP', 'TCPCONNECTWRAP', 'TCPSERVERWRAP', 'Timeout']);

export interface LeakWatch {
  /**
   * Waits until the service has nothing open; fails, naming what is left, after 5 s: closing
   * takes milliseconds, and this stays below pg's 10 s idle timeout, which would close a leaked
   * pool's connections by itself.
   */
  expectNothingLeftOpen(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Watches what a service started in this process leaves open: its PostgreSQL connections (by
 * `application_name`, in the test's database), its Redis clients (on the test's Redis database
 * index), and the sockets, listening servers and timers created in this process while watching
 * (a client that keeps reconnecting to a Redis that is down shows up here). Start watching just
 * before the service starts.
 */
export async function watchLeaks(service: { databaseUrl: string; applicationName: string; redisUrl?: string }): Promise<LeakWatch> {
  const db = new pg.Client({ connectionString: service.databaseUrl, application_name: 'leak-watch' });
  await db.connect();
  const redis = new Redis(inject('redisUrl'));
  await redis.ping();
  const redisDb = service.redisUrl ? new URL(service.redisUrl).pathname.slice(1) || '0' : null;
  const alive = new Map<number, string>();
  const hook = createHook({
    init(asyncId, type) {
      if (TRACKED.has(type)) alive.set(asyncId, type);
    },
    destroy(asyncId) {
      alive.delete(asyncId);
    },
  }).enable();

  const pgConnections = async () =>
    (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1', [service.applicationName])).rows[0]!.n;
  const redisClients = async () => {
    if (redisDb === null) return 0;
    const list = (await redis.call('CLIENT', 'LIST', 'TYPE', 'normal')) as string;
    const pubsub = (await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
    return `${list}\n${pubsub}`.split('\n').filter((line) => line.includes(` db=${redisDb} `)).length;
  };
  const extraHandles = async () => {
    // Destroy hooks run from the immediate queue: let them (and the polling timer's) arrive first.
    await new Promise((resolve) => setImmediate(resolve));
    return [...alive.values()];
  };

  return {
    async expectNothingLeftOpen() {
      await eventually(async () => (await extraHandles()).length === 0 && (await pgConnections()) === 0 && (await redisClients()) === 0, {
        timeoutMs: 5_000,
        describe: async () =>
          `still open: ${await pgConnections()} PostgreSQL connection(s) of ${service.applicationName}, ${await redisClients()} Redis client(s), [${(await extraHandles()).join(', ')}]`,
      });
    },
    async close() {
      hook.disable();
      await db.end();
      redis.disconnect();
    },
  };
}
