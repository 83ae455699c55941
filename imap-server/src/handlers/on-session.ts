import { no, ok, ANY, AUTHENTICATED, NOT_AUTHENTICATED, SELECTED, type CommandHandler, type Reply } from './types.js';
import type { ImapSession } from './session.js';
import { imapString } from '../protocol/response.js';

/**
 * Session commands: CAPABILITY, NOOP, LOGOUT, ID, ENABLE (IMAP4rev2 too), NAMESPACE, CHECK, STARTTLS and
 * COMPRESS (the TLS and DEFLATE layers themselves are the connection's: app.ts). Sign-in is in
 * on-login.ts.
 */

export const capability: CommandHandler = {
  states: ANY,
  async run(session, args) {
    args.end();
    await session.send(`* CAPABILITY ${session.capabilities()}`);
    return ok('CAPABILITY completed');
  },
};

export const noop: CommandHandler = {
  states: ANY,
  async run(session, args) {
    args.end();
    await session.catchUp();
    return ok('NOOP completed');
  },
};

export const check: CommandHandler = {
  states: SELECTED,
  async run(session, args) {
    args.end();
    await session.catchUp();
    return ok('CHECK completed');
  },
};

export const logout: CommandHandler = {
  states: ANY,
  async run(session, args) {
    args.end();
    await session.send('* BYE Mailyard IMAP signing off');
    return ok('LOGOUT completed');
  },
};

/** RFC 2971: the client's fields are read and not kept. */
export const id: CommandHandler = {
  states: ANY,
  async run(session, args) {
    const token = args.token('ID parameters');
    if (!(token.type === 'list' || (token.type === 'atom' && token.value.toUpperCase() === 'NIL'))) args.fail('ID takes a list or NIL');
    args.end();
    await session.send('* ID (', imapString('name'), ' ', imapString('Mailyard'), ' ', imapString('vendor'), ' ', imapString('Mailyard'), ')');
    return ok('ID completed');
  },
};

/**
 * ENABLE (RFC 5161): CONDSTORE, QRESYNC and IMAP4rev2. IMAP4rev2 is taken only before a mailbox
 * is selected (RFC 9051 6.3.1: it changes what SELECT answers) and is named once.
 */
export const enable: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    if (args.remaining === 0) args.fail('ENABLE needs a capability');
    const enabled: string[] = [];
    while (args.remaining > 0) {
      const name = args.atom('capability').toUpperCase();
      if ((name === 'CONDSTORE' || name === 'QRESYNC') && !enabled.includes(name)) {
        // QRESYNC implies CONDSTORE (RFC 7162 3.2.3).
        session.condstore = true;
        if (name === 'QRESYNC') session.qresync = true;
        enabled.push(name);
      } else if (name === 'IMAP4REV2' && !session.rev2 && !session.selected) {
        session.rev2 = true;
        enabled.push('IMAP4rev2');
      }
    }
    await session.send(`* ENABLED${enabled.map((c) => ` ${c}`).join('')}`);
    return ok('ENABLE completed');
  },
};

export const namespace: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    args.end();
    await session.send('* NAMESPACE (("" "/")) NIL NIL');
    return ok('NAMESPACE completed');
  },
};

export const starttls: CommandHandler = {
  states: NOT_AUTHENTICATED,
  async run(session: ImapSession, args): Promise<Reply> {
    args.end();
    if (session.io.secure()) return no('TLS is already active');
    // The OK goes out in the clear, then the handshake (the session writes nothing in between).
    session.tlsPending = true;
    return ok('Begin TLS negotiation now');
  },
};

/** RFC 4978: DEFLATE once per connection, after sign-in; it starts right after the OK. */
export const compress: CommandHandler = {
  states: AUTHENTICATED,
  async run(session, args) {
    const mechanism = args.atom('compression mechanism').toUpperCase();
    args.end();
    if (mechanism !== 'DEFLATE') args.fail(`unknown compression mechanism ${mechanism.slice(0, 20)}`);
    if (session.io.compressed()) return no('DEFLATE is already on', 'COMPRESSIONACTIVE');
    session.compressionPending = true;
    return ok('DEFLATE active');
  },
};
