import type { ImapSession } from './session.js';
import { bad, no, ok, NOT_AUTHENTICATED, type CommandHandler, type Reply } from './types.js';

/**
 * LOGIN and AUTHENTICATE PLAIN (with SASL-IR), both through core's `authenticateClient` ('imap'
 * channel: the account password or an app password; only app passwords with TOTP on), which
 * counts failures per IP and per account together with web and SMTP sign-in. Both are refused
 * before TLS unless IMAP_ALLOW_PLAINTEXT_AUTH is set.
 */

async function signIn(session: ImapSession, username: string, password: string, method: string): Promise<Reply> {
  if (!session.io.secure() && !session.deps.settings.allowPlaintextAuth) return no('Use STARTTLS (or port 993) before signing in', 'PRIVACYREQUIRED');
  let result;
  try {
    result = await session.services.auth.authenticate({ username, password, ip: session.io.ip, details: { method } });
  } catch (err) {
    session.log.warn({ event: 'imap.auth_unavailable', err: (err as Error).message });
    return no('Sign-in is unavailable, try again later', 'UNAVAILABLE');
  }
  if (result.kind === 'limited') return no(`Too many failed sign-ins, try again in ${result.retryAfterSeconds} seconds`, 'UNAVAILABLE');
  if (result.kind !== 'ok') return no('Invalid credentials', 'AUTHENTICATIONFAILED');
  const refused = await session.signIn({ userId: result.user.userId, address: result.user.address });
  if (refused) return refused;
  session.log.info({ event: 'imap.login', userId: result.user.userId, method });
  return ok('Signed in', `CAPABILITY ${session.capabilities()}`);
}

export const login: CommandHandler = {
  states: NOT_AUTHENTICATED,
  async run(session, args) {
    const username = args.astring('user name');
    const password = args.astring('password');
    args.end();
    return signIn(session, username, password, 'LOGIN');
  },
};

/** `authzid NUL authcid NUL password`; the authzid, when given, must be the authcid. */
function decodePlain(base64: string): { username: string; password: string } | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) return null;
  const parts = Buffer.from(base64, 'base64').toString('utf8').split('\0');
  if (parts.length !== 3 || !parts[1] || (parts[0] && parts[0] !== parts[1])) return null;
  return { username: parts[1], password: parts[2]! };
}

export const authenticate: CommandHandler = {
  states: NOT_AUTHENTICATED,
  async run(session, args) {
    const mechanism = args.atom('mechanism').toUpperCase();
    const initial = args.remaining > 0 ? args.atom('initial response') : null;
    args.end();
    if (mechanism !== 'PLAIN') return no(`Unsupported mechanism ${mechanism.slice(0, 20)}`, 'CANNOT');
    if (!session.io.secure() && !session.deps.settings.allowPlaintextAuth) return no('Use STARTTLS (or port 993) before signing in', 'PRIVACYREQUIRED');
    let response = initial === '=' ? '' : initial;
    if (response === null) {
      await session.send('+ ');
      const frame = await session.nextFrame();
      if (!frame || frame.kind !== 'command') return bad('Authentication aborted');
      response = frame.raw.toString('latin1');
      if (response === '*') return bad('Authentication cancelled');
    }
    const credentials = decodePlain(response);
    if (!credentials) return bad('Invalid SASL PLAIN response');
    return signIn(session, credentials.username, credentials.password, 'PLAIN');
  },
};
