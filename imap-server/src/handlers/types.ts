import type { Args } from '../protocol/commands/args.js';
import type { ParsedCommand } from '../protocol/parser.js';
import type { ImapSession } from './session.js';

/** What a command handler answers: the tagged status line (untagged data it wrote itself). */
export interface Reply {
  status: 'OK' | 'NO' | 'BAD';
  /** A response code without brackets: `TRYCREATE`, `APPENDUID 1 2`. */
  code?: string;
  text: string;
}

export const ok = (text: string, code?: string): Reply => ({ status: 'OK', text, ...(code ? { code } : {}) });
export const no = (text: string, code?: string): Reply => ({ status: 'NO', text, ...(code ? { code } : {}) });
export const bad = (text: string, code?: string): Reply => ({ status: 'BAD', text, ...(code ? { code } : {}) });

export type SessionState = 'not-authenticated' | 'authenticated' | 'selected';

export interface CommandHandler {
  states: readonly SessionState[];
  run(session: ImapSession, args: Args, command: ParsedCommand): Promise<Reply>;
  /** False for FETCH, STORE and SEARCH by sequence number: no EXPUNGE may be reported around them. */
  expungeAllowed?: boolean;
}

export const ANY: readonly SessionState[] = ['not-authenticated', 'authenticated', 'selected'];
export const AUTHENTICATED: readonly SessionState[] = ['authenticated', 'selected'];
export const SELECTED: readonly SessionState[] = ['selected'];
export const NOT_AUTHENTICATED: readonly SessionState[] = ['not-authenticated'];
