import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { replies } from './replies.js';

/**
 * smtp-server waits a fixed 100 ms before its greeting on every connection (to catch clients
 * that talk before they are greeted). For a busy MX that delay, not CPU, bounds the rate of new
 * connections (20 sessions -> at most ~170 messages/s). We make it configurable per server
 * (`greetingDelayMs` in the server options, default 0); a pre-greeting test belongs with the
 * spam defences, where it can apply to unknown clients only.
 *
 * This replaces the library's `init()` (smtp-server 3.21.x, pinned in package.json), and answers
 * a connection over `maxClients` (SMTP_MAX_CLIENTS) with our `421 4.7.0 too many connections`;
 * the MX protocol tests fail if the greeting or the connection limit stop working.
 */
interface ConnectionInternals {
  _server: { options: { maxClients?: number; greetingDelayMs?: number }; connections: Set<unknown> };
  _setListeners(callback: () => void): void;
  connectionReady(): void;
  send(code: number, text: string, context?: unknown): void;
  name: string;
}

let installed = false;

export function useConfigurableGreetingDelay(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as ConnectionInternals & { init(): void };
  proto.init = function init(this: ConnectionInternals) {
    this._setListeners(() => {
      const { maxClients, greetingDelayMs = 0 } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        // send() closes the connection after a 421.
        const refusal = replies.tooManyClients(maxClients);
        this.send(refusal.responseCode, refusal.message, false);
        return;
      }
      if (greetingDelayMs <= 0) return this.connectionReady();
      setTimeout(() => this.connectionReady(), greetingDelayMs).unref();
    });
  };
}
