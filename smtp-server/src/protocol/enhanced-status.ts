import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * The smtp-server library prefixes every reply with an enhanced status code picked from the
 * numeric code alone (550 always becomes 5.1.1), which is wrong for a relay denial (5.7.1).
 * Our own replies carry their code at the start of the text (`5.7.1 relaying denied`); for those
 * we ask the library to add none. Its own replies (syntax errors, bad sequence) keep its codes.
 */
const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;
let installed = false;

export function useOwnEnhancedStatusCodes(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as { send(code: number, data: unknown, context?: unknown): unknown };
  const original = proto.send;
  proto.send = function send(this: unknown, code: number, data: unknown, context?: unknown) {
    const own = typeof data === 'string' && ENHANCED_PREFIX.test(data);
    return original.call(this, code, data, own ? false : context);
  };
}
