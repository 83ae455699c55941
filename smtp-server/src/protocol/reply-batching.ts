import type { Socket } from 'node:net';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * One socket write per group of replies instead of one per reply. smtp-server writes each reply
 * on its own (`SMTPConnection.send`, its one write site) with Nagle off, so a client that
 * pipelines MAIL, RCPT and DATA costs three write system calls (and three segments). We cork
 * the socket at the first reply of a turn of the event loop and uncork it once the turn is over
 * (setImmediate): the replies the server makes to one pipelined group in that turn leave in one
 * write. A reply made later (after a store lookup, say) starts the next group; nothing waits
 * longer than the rest of the turn. A 220 is never held: it is the greeting, or the go-ahead of
 * STARTTLS after which the socket is handed to TLS, so what came before goes out first.
 * Wraps `send` (smtp-server 3.21.x, pinned in package.json); the MX protocol tests count writes.
 */
interface ConnectionInternals {
  _socket: Socket;
}

let installed = false;

export function useBatchedReplies(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as ConnectionInternals & { send(code: number, ...rest: unknown[]): unknown };
  const send = proto.send;
  proto.send = function (this: ConnectionInternals, code: number, ...rest: unknown[]) {
    const socket = this._socket;
    if (code === 220) {
      while (socket.writableCorked > 0) socket.uncork();
    } else if (socket.writableCorked === 0 && !socket.destroyed) {
      socket.cork();
      setImmediate(() => {
        while (socket.writableCorked > 0) socket.uncork();
      });
    }
    return send.call(this, code, ...rest);
  };
}
