import { loadConfig, requireServiceEndpoints, runMain, schemas, type BaseConfig, type Logger, type Running } from '@mailyard/core';
import { isServiceName, type ChildMessage, type ServiceName } from './child-messages.js';

/**
 * One service in a child process of `npm start` (forked by service-process.ts, the service's name
 * in argv[2]). It runs the service's own `start()` with `npm start`'s defaults (the 'local' run mode:
 * loopback, ports 2525…, API docs on), on the DATABASE_URL and REDIS_URL the parent gives it (or the
 * configured REDIS_URL / REDIS_SENTINELS, read as every service reads them; WORKER_HEALTH_PORT its own), and
 * tells the parent over IPC when it is ready (with the ports it bound) or why it failed.
 * The parent owns its life: it stops it with SIGTERM (drain, then exit); Ctrl-C, which reaches the
 * whole process group, is left to the parent; when the parent dies (the IPC channel closes) it stops.
 */

type Start<C> = (config: C, endpoints: { databaseUrl: string; redisUrl: string }, log: Logger) => Promise<Running & object>;

function runChild<C extends BaseConfig>(name: ServiceName, load: () => C, importStart: () => Promise<Start<C>>): void {
  runMain(name, load, async (config, log) => {
    const start = await importStart();
    let running: Running & object;
    try {
      running = await start(config, requireServiceEndpoints(config), log);
    } catch (err) {
      await tellParent({ type: 'failed', message: (err as Error).message });
      throw err;
    }
    const ports = Object.fromEntries(Object.entries(running).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
    await tellParent({ type: 'ready', ports });
    return running;
  });
  // runMain stops on SIGINT too; here Ctrl-C is the parent's to handle (it sends SIGTERM in order).
  process.removeAllListeners('SIGINT');
  process.on('SIGINT', () => undefined);
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

/** Resolves once the message is handed to the IPC channel (so that an exit right after cannot lose it). */
function tellParent(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

const name = process.argv[2];
if (!isServiceName(name)) {
  process.stderr.write(`usage: child.js <smtp-server|inbound-worker|outbound-worker|imap-server|backend> (got ${name ?? 'nothing'})\n`);
  process.exit(64);
}
// Each child imports only its own service.
({
  'smtp-server': () => runChild(name, () => loadConfig(schemas.smtp('local')), async () => (await import('@mailyard/smtp-server')).start),
  'inbound-worker': () => runChild(name, () => loadConfig(schemas.inbound('local')), async () => (await import('@mailyard/inbound-worker')).start),
  'outbound-worker': () => runChild(name, () => loadConfig(schemas.outbound('local')), async () => (await import('@mailyard/outbound-worker')).start),
  'imap-server': () => runChild(name, () => loadConfig(schemas.imap('local')), async () => (await import('@mailyard/imap-server')).start),
  backend: () => runChild(name, () => loadConfig(schemas.http('local')), async () => (await import('@mailyard/backend')).start),
})[name]();
