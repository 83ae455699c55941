import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * AUTH on a connection that could still say STARTTLS (port 587 before the upgrade): smtp-server
 * refuses it itself (`allowInsecureAuth: false`), before any SASL exchange or password check, but with
 * `538 5.7.0 Error: Must issue a STARTTLS command first`. We answer with RFC 4954 §6's reply
 * for this case instead: `538 5.7.11 Encryption required for requested authentication mechanism`.
 *
 * The condition is the library's own (smtp-server 3.21.x `handler_AUTH`, pinned in
 * package.json); everything else is left to the original handler. The submission protocol tests
 * fail if AUTH before STARTTLS stops being refused.
 */
interface ConnectionInternals {
  secure: boolean;
  _server: { options: { allowInsecureAuth?: boolean; hideSTARTTLS?: boolean } };
  _isSupported(command: string): boolean;
  send(code: number, text: string, context?: unknown): void;
}

type AuthHandler = (this: ConnectionInternals, command: Buffer, callback: () => void) => void;

let installed = false;

export function useRfc4954AuthTlsReply(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as { handler_AUTH: AuthHandler };
  const original = proto.handler_AUTH;
  proto.handler_AUTH = function handler_AUTH(this: ConnectionInternals, command: Buffer, callback: () => void) {
    const { allowInsecureAuth, hideSTARTTLS } = this._server.options;
    if (!this.secure && this._isSupported('STARTTLS') && !hideSTARTTLS && !allowInsecureAuth) {
      this.send(538, '5.7.11 Encryption required for requested authentication mechanism; issue STARTTLS first');
      return callback();
    }
    return original.call(this, command, callback);
  };
}
