import type { SMTPServerSession } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { SmtpReplyError } from './replies.js';

/**
 * smtp-server answers DATA with 354 and only then calls `onData`, so a handler could refuse a
 * message only after the client has sent all of it. A server option `onDataCommand(session)` (not
 * an option of the library itself) is asked first, once there are recipients: a reply it returns
 * answers the DATA command instead of 354, and the transaction stays as it was (the client may
 * try DATA again later, RSET or QUIT). Everything else is the library's own `handler_DATA`
 * (smtp-server 3.21.x, pinned in package.json); the MX transcript tests fail if this stops working.
 */
export type DataCommandCheck = (session: SMTPServerSession) => SmtpReplyError | null;

interface ConnectionInternals {
  session: SMTPServerSession;
  _server: { options: { onDataCommand?: DataCommandCheck } };
  send(code: number, text: string): void;
}

type DataHandler = (this: ConnectionInternals, command: Buffer, callback: () => void) => void;

let installed = false;

export function useDataAdmission(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as { handler_DATA: DataHandler };
  const original = proto.handler_DATA;
  proto.handler_DATA = function handler_DATA(this: ConnectionInternals, command: Buffer, callback: () => void) {
    const check = this._server.options.onDataCommand;
    const refusal = check && this.session.envelope.rcptTo.length > 0 ? check(this.session) : null;
    if (refusal) {
      this.send(refusal.responseCode, refusal.message);
      return callback();
    }
    return original.call(this, command, callback);
  };
}
