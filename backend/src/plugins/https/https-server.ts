import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenOn, type Logger, type TlsSource } from '@mailyard/core';

/**
 * The HTTPS listener beside Fastify's own HTTP one: a node https server that hands every request
 * to the app's router (`app.routing`), so both serve the same routes and hooks. It presents the
 * certificate of `tls` and switches to each new one without a restart. It is created before the
 * app (so that it closes after it: the app's preClose ends the SSE streams first).
 */
export interface HttpsListener {
  server: https.Server;
  /** Where requests go (set once the app is built). */
  route(handler: (req: IncomingMessage, res: ServerResponse) => void): void;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

export function createHttpsListener(tls: TlsSource, log: Logger): HttpsListener {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const { key, cert } = tls.current();
  const server = https.createServer({ key, cert }, (req, res) => {
    if (handler) return handler(req, res);
    res.writeHead(503).end();
  });
  server.on('tlsClientError', (err) => log.debug({ event: 'https.tls_error', err: err.message }));
  const stopFollowing = tls.onChange((material) => server.setSecureContext({ key: material.key, cert: material.cert }));

  return {
    server,
    route(next) {
      handler = next;
    },
    listen(port, host) {
      return listenOn(server, port, host);
    },
    close() {
      stopFollowing();
      if (!server.listening) return Promise.resolve();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}
