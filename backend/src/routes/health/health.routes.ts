import { sql } from 'kysely';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type { Db } from '@mailyard/core';

export function healthRoutes(deps: { db: Db; redis: Redis }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
    app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
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
  };
}
