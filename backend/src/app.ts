import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Db, Logger } from '@mailyard/core';
import type { Redis } from 'ioredis';

export interface BackendDeps {
  db: Db;
  redis: Redis;
  log: Logger;
}

/**
 * The HTTP service. This slice serves health and readiness only; the mail API, SSE and the
 * webmail arrive with their own issues.
 */
export function buildBackend(deps: BackendDeps): FastifyInstance {
  const app = Fastify({ loggerInstance: deps.log as FastifyBaseLogger, disableRequestLogging: true });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const checks = { postgres: false, redis: false };
    try {
      await sql`SELECT 1`.execute(deps.db);
      checks.postgres = true;
    } catch {
      // reported below
    }
    try {
      checks.redis = (await deps.redis.ping()) === 'PONG';
    } catch {
      // reported below
    }
    const ready = checks.postgres && checks.redis;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', checks });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: { code: 'route.not_found', message: `no route ${req.method} ${req.url}` }, requestId: req.id }));
  return app;
}
