import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * What a listener reports for its metrics (the server option `observer`, not an option of the
 * library itself; metrics.ts gives each listener its own). `SMTPServer.connect` starts every
 * session (after the TLS handshake on 465), and `SMTPConnection.send` is the library's one write
 * site for replies: our handlers' verdicts, its own (greeting, 250s, 354, 221, syntax and
 * sequence errors, 421 on timeout or shutdown) and our patches' (the 421 of a full server,
 * protocol/greeting-delay.ts) all pass there, so counting there sees every reply once.
 * Replaces nothing: both methods are wrapped (smtp-server 3.21.x, pinned in package.json).
 */
export interface SmtpListenerObserver {
  sessionStarted(): void;
  reply(code: number): void;
}

interface Observed {
  options: { observer?: SmtpListenerObserver };
}

let installed = false;

export function useListenerObserver(): void {
  if (installed) return;
  installed = true;
  const server = SMTPServer.prototype as unknown as { connect(this: Observed, ...args: unknown[]): void };
  const connect = server.connect;
  server.connect = function (this: Observed, ...args: unknown[]) {
    this.options.observer?.sessionStarted();
    return connect.apply(this, args);
  };
  const connection = SMTPConnection.prototype as unknown as { send(this: { _server: Observed }, code: number, ...rest: unknown[]): unknown };
  const send = connection.send;
  connection.send = function (this: { _server: Observed }, code: number, ...rest: unknown[]) {
    this._server.options.observer?.reply(code);
    return send.call(this, code, ...rest);
  };
}
