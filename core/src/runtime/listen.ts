import type { Server } from 'node:net';

/**
 * Listens on host:port and resolves with the port bound (useful with port 0); an error while
 * binding (EADDRINUSE) rejects instead of being thrown at the server.
 */
export function listenOn(server: Server, port: number, host: string, listen: (done: () => void) => void = (done) => server.listen(port, host, done)): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    listen(() => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
