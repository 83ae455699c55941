import { AppError, type Logger } from '@mailyard/core';
import { bad, no, type Reply } from './types.js';

/**
 * Core's errors as IMAP answers (RFC 5530 response codes). A refusal is a NO with its code; an
 * invalid flag is a BAD; anything else is an infrastructure failure: `NO [UNAVAILABLE]`, logged.
 */
const CODES: Record<string, (message: string) => Reply> = {
  'mailbox.not_found': () => no('No such mailbox', 'NONEXISTENT'),
  'mailbox.exists': () => no('Mailbox already exists', 'ALREADYEXISTS'),
  'mailbox.protected': () => no('System mailboxes cannot be renamed or deleted', 'CANNOT'),
  'mailbox.name_invalid': (m) => no(m, 'CANNOT'),
  'message.not_found': () => no('Some of the messages no longer exist', 'EXPUNGEISSUED'),
  'flags.invalid': (m) => bad(m),
  'flags.too_many': (m) => no(m, 'LIMIT'),
  /** RFC 9208: APPEND or COPY would take the user over their storage quota. */
  'quota.exceeded': (m) => no(m, 'OVERQUOTA'),
};

export function replyForError(err: unknown, log: Logger, command: string): Reply {
  if (err instanceof AppError && CODES[err.code]) return CODES[err.code]!(err.message);
  log.warn({ event: 'imap.command_failed', command, err: (err as Error).message });
  return no('Temporary failure, try again later', 'UNAVAILABLE');
}
