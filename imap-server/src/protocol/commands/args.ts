import { decodeMailboxName, MailboxNameEncodingError } from '../mutf7.js';
import { ImapParseError, type Token } from '../parser.js';

/**
 * Reading a command's arguments, in order: each reader takes the next token or throws an
 * ImapParseError (answered BAD with the command's tag). `end()` refuses arguments left over.
 */
export class Args {
  private index = 0;

  constructor(
    private readonly tokens: readonly Token[],
    readonly tag: string,
    /** Mailbox names are UTF-8 (IMAP4rev2 enabled), not modified UTF-7. */
    readonly utf8Names = false,
  ) {}

  fail(message: string): never {
    throw new ImapParseError(message, this.tag);
  }

  get remaining(): number {
    return this.tokens.length - this.index;
  }

  peek(): Token | undefined {
    return this.tokens[this.index];
  }

  private take(what: string): Token {
    const token = this.tokens[this.index++];
    if (!token) this.fail(`missing ${what}`);
    return token;
  }

  /** Any single token (for sub-grammars). */
  token(what: string): Token {
    return this.take(what);
  }

  atom(what: string): string {
    const token = this.take(what);
    if (token.type !== 'atom') this.fail(`${what} must be an atom`);
    return token.value;
  }

  /** An atom or a string, as bytes. */
  astringBytes(what: string): Buffer {
    const token = this.take(what);
    if (token.type === 'list') this.fail(`${what} must be a string`);
    return token.type === 'atom' ? Buffer.from(token.value, 'latin1') : token.value;
  }

  /** An atom or a string, as UTF-8 text. */
  astring(what: string): string {
    return this.astringBytes(what).toString('utf8');
  }

  /** A mailbox name: decoded from modified UTF-7 (or UTF-8); INBOX in any case is INBOX. */
  mailbox(what = 'mailbox name'): string {
    return decodeMailbox(this.astringBytes(what), this.utf8Names);
  }

  list(what: string): Token[] {
    const token = this.take(what);
    if (token.type !== 'list') this.fail(`${what} must be a parenthesized list`);
    return token.items;
  }

  /** A list if the next token is one, else undefined (and nothing is taken). */
  optionalList(): Token[] | undefined {
    const token = this.peek();
    if (token?.type !== 'list') return undefined;
    this.index++;
    return token.items;
  }

  end(): void {
    if (this.index < this.tokens.length) this.fail('too many arguments');
  }
}

export function parseNumber(text: string, what: string, tag: string | null): number {
  if (!/^\d{1,19}$/.test(text) || !Number.isSafeInteger(Number(text))) throw new ImapParseError(`${what} must be a number`, tag);
  return Number(text);
}

/** A mailbox name that is not valid modified UTF-7: no folder can have it, so a NO (not a BAD). */
export class InvalidMailboxNameError extends Error {}

/**
 * A mailbox name from the wire: modified UTF-7 (IMAP4rev1), or UTF-8 in NFC once IMAP4rev2 is
 * enabled (RFC 9051 5.1). INBOX in any case is INBOX.
 */
export function decodeMailbox(wire: Buffer, utf8 = false): string {
  let name: string;
  if (utf8) {
    name = wire.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(wire)) throw new InvalidMailboxNameError('a mailbox name must be UTF-8');
    name = name.normalize('NFC');
  } else {
    try {
      name = decodeMailboxName(wire.toString('latin1'));
    } catch (err) {
      if (err instanceof MailboxNameEncodingError) throw new InvalidMailboxNameError(err.message);
      throw err;
    }
  }
  return name.toUpperCase() === 'INBOX' ? 'INBOX' : name;
}

/** The text of an atom or string token, else a BAD. */
export function tokenText(token: Token, what: string, tag: string | null): string {
  if (token.type === 'list') throw new ImapParseError(`${what} must be a string`, tag);
  return token.type === 'atom' ? token.value : token.value.toString('utf8');
}

/** A flag list or a single flag (STORE, APPEND). */
export function flagArgs(tokens: readonly Token[], tag: string): string[] {
  return tokens.map((t) => {
    if (t.type !== 'atom') throw new ImapParseError('a flag must be an atom', tag);
    return t.value;
  });
}
