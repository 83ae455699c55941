import http from 'node:http';
import type { Redis } from 'ioredis';
import type { Readiness } from '../contracts/health.js';
import { pingDatabase, type Db } from '../db/client.js';
import { listenOn } from './listen.js';
import { PROMETHEUS_CONTENT_TYPE, type MetricsRegistry } from './metrics.js';

/**
 * The probes of a service without the HTTP API (the workers, SMTP, IMAP): GET /healthz (the process
 * answers) and GET /readyz (200 when PostgreSQL and Redis both answer, else 503; for the MX,
 * `readyWithoutRedis`: PostgreSQL alone, since it takes mail into the spool while Redis is away), the same answers
 * as the backend's, and with a registry GET /metrics (Prometheus text, this process's figures),
 * on WORKER_HEALTH_PORT for compose's healthcheck, orchestrators and Prometheus (under `npm start`, one
 * port per process: stack/src/service-processes.ts). Anything else: 404.
 */
export async function startHealthServer(deps: { db: Db; redis: Redis; metrics?: MetricsRegistry; readyWithoutRedis?: boolean }, port: number, host: string): Promise<{ port: number; close(): Promise<void> }> {
  const readiness = async (): Promise<Readiness> => {
    const [postgres, redis] = await Promise.all([
      pingDatabase(deps.db).then(() => true, () => false),
      deps.redis.ping().then((reply) => reply === 'PONG', () => false),
    ]);
    return { status: postgres && (redis || deps.readyWithoutRedis === true) ? 'ready' : 'not-ready', checks: { postgres, redis } };
  };
  const send = (res: http.ServerResponse, status: number, body: { status: 'ok' } | Readiness | { error: string }) =>
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));

  const server = http.createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' });
    if (pathname === '/healthz') return send(res, 200, { status: 'ok' });
    if (pathname === '/metrics' && deps.metrics) return void res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(deps.metrics.render());
    if (pathname === '/readyz') {
      void readiness().then((body) => send(res, body.status === 'ready' ? 200 : 503, body));
      return;
    }
    send(res, 404, { error: 'not found' });
  });
  // Exclusive: a node:cluster worker (an SMTP process of `npm start`) binds the port itself instead
  // of sharing it with its siblings, so that each port answers for one process.
  const bound = await listenOn(server, port, host, (done) => server.listen({ port, host, exclusive: true }, done));
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
