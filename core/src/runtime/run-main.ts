import { ConfigError } from '../config/load-config.js';
import { createLogger, type Logger } from '../log/logger.js';

export interface Running {
  stop(): Promise<void>;
}

/**
 * The body of every service's main.ts: load config, start, then stop cleanly on SIGTERM/SIGINT
 * (a second signal exits at once). A configuration error prints every bad key and exits 78.
 */
export function runMain<C extends { LOG_LEVEL: string }>(name: string, load: () => C, start: (config: C, log: Logger) => Promise<Running>): void {
  let config: C;
  try {
    config = load();
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    process.exit(err instanceof ConfigError ? 78 : 1);
  }
  const log = createLogger({ name, level: config.LOG_LEVEL });
  let running: Running | undefined;
  let stopping = false;

  const shutdown = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ event: 'service.stopping', signal });
    try {
      await running?.stop();
      log.info({ event: 'service.stopped' });
      process.exit(0);
    } catch (err) {
      log.error({ event: 'service.stop_failed', err: (err as Error).message });
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  // Promise.resolve().then: a start() that throws synchronously is handled like a rejection.
  Promise.resolve()
    .then(() => start(config, log))
    .then(
      (r) => {
        running = r;
        if (stopping) void r.stop();
      },
      (err: Error) => {
        if (err instanceof ConfigError) {
          process.stderr.write(`${name}: ${err.message}\n`);
          process.exit(78);
        }
        log.fatal({ event: 'service.start_failed', err: err.message, stack: err.stack });
        process.exit(1);
      },
    );
}
