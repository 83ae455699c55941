import { pino, type Logger } from 'pino';

export type { Logger };

/** pino JSON logs with secrets redacted; services create child loggers per session/job. */
export function createLogger(options: { name: string; level?: string }): Logger {
  return pino({
    name: options.name,
    level: options.level ?? 'info',
    redact: {
      paths: ['password', '*.password', 'pass', '*.pass', 'token', '*.token', 'cookie', '*.cookie', 'authorization', '*.authorization', 'databaseUrl', 'redisUrl'],
      censor: '[redacted]',
    },
    base: { service: options.name },
  });
}

/** A logger that writes nothing, for tests and CLI runs that must stay quiet. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
