import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import { pingDatabase, type Db } from '@mailyard/core';
import { healthResponse, readinessResponse } from '@mailyard/core/contracts';

export function healthRoutes(deps: { db: Db; redis: Redis }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/healthz', { schema: { hide: true, response: { 200: healthResponse } } }, async () => ({ status: 'ok' as const }));
    app.get('/readyz', { schema: { hide: true, response: { 200: readinessResponse, 503: readinessResponse } } }, async (_req, reply) => {
      const checks = { postgres: false, redis: false };
      try {
        await pingDatabase(deps.db);
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
