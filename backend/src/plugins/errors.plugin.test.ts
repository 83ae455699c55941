import Fastify from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '@mailyard/core';
import { freePort } from '../../../core/src/local/process-utils.js';
import { registerErrorHandling } from './errors.plugin.js';

const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const close of closers) await close();
});

async function appWith(routes: Record<string, () => Promise<unknown>>) {
  const app = Fastify({ logger: false });
  registerErrorHandling(app);
  for (const [url, handler] of Object.entries(routes)) app.get(url, handler);
  await app.ready();
  closers.push(() => app.close());
  return app;
}

describe('the error body when the store is out of reach', () => {
  it('answers 503 service.unavailable with Retry-After when PostgreSQL or Redis cannot be reached, and 500 for a bug', async () => {
    const deadPort = await freePort();
    const pool = new pg.Pool({ connectionString: `postgres://nobody:x@127.0.0.1:${deadPort}/none`, connectionTimeoutMillis: 2_000 });
    pool.on('error', () => undefined);
    closers.push(() => pool.end());
    const redis = new Redis({ host: '127.0.0.1', port: deadPort, maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null });
    redis.on('error', () => undefined);
    closers.push(async () => redis.disconnect());
    const app = await appWith({
      '/pg': () => pool.query('SELECT 1'),
      '/redis': () => redis.get('k'),
      '/bug': async () => {
        throw new TypeError("Cannot read properties of undefined (reading 'x')");
      },
      '/known': async () => {
        throw new AppError('message.not_found', 'no such message', 404);
      },
    });
    for (const url of ['/pg', '/redis']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json()).toMatchObject({ error: { code: 'service.unavailable' } });
    }
    expect((await app.inject({ method: 'GET', url: '/bug' })).json()).toMatchObject({ error: { code: 'internal' } });
    expect((await app.inject({ method: 'GET', url: '/known' })).statusCode).toBe(404);
  });
});
