import http from 'node:http';
import type { Redis } from 'ioredis';
import type { Readiness } from '../contracts/health.js';
import { pingDatabase, type Db } from '../db/client.js';
import { listenOn } from './listen.js';

/**
 * The probes of a service without an HTTP API (the workers): GET /healthz (the process answers) and
 * GET /readyz (200 when PostgreSQL and Redis both answer, else 503), the same answers as the
 * backend's, on WORKER_HEALTH_PORT for compose's healthcheck and orchestrators. Anything else: 404.
 */
export async function startHealthServer(deps: { db: Db; redis: Redis }, port: number, host: string): Promise<{ port: number; close(): Promise<void> }> {
  const readiness = async (): Promise<Readiness> => {
    const [postgres, redis] = await Promise.all([
      pingDatabase(deps.db).then(() => true, () => false),
      deps.redis.ping().then((reply) => reply === 'PONG', () => false),
    ]);
    return { status: postgres && redis ? 'ready' : 'not-ready', checks: { postgres, redis } };
  };
  const send = (res: http.ServerResponse, status: number, body: { status: 'ok' } | Readiness | { error: string }) =>
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));

  const server = http.createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' });
    if (pathname === '/healthz') return send(res, 200, { status: 'ok' });
    if (pathname === '/readyz') {
      void readiness().then((body) => send(res, body.status === 'ready' ? 200 : 503, body));
      return;
    }
    send(res, 404, { error: 'not found' });
  });
  const bound = await listenOn(server, port, host);
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
