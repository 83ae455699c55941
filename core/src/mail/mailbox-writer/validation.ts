import { AppError } from '../../errors.js';

/** What a client may store as flags and name folders: the rules IMAP and the API share. */

/** IMAP system flags a client may set (\Recent is session state, never stored). */
export const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'] as const;
export const MAX_FLAG_LENGTH = 100;
export const MAX_FLAGS_PER_MESSAGE = 100;
export const MAX_MAILBOX_NAME_LENGTH = 200;

/**
 * A flag as stored: system flags in their canonical case (IMAP system flags are case-insensitive),
 * keywords as IMAP atoms (printable ASCII without atom-specials).
 */
export function normalizeFlag(flag: string): string {
  if (flag.startsWith('\\')) {
    const system = SYSTEM_FLAGS.find((f) => f.toLowerCase() === flag.toLowerCase());
    if (!system) throw new AppError('flags.invalid', `${JSON.stringify(flag.slice(0, 50))} is not a flag that can be stored`, 400);
    return system;
  }
  if (flag.length === 0 || flag.length > MAX_FLAG_LENGTH || !/^[\x21-\x7e]+$/.test(flag) || /[(){%*"\\\]]/.test(flag)) {
    throw new AppError('flags.invalid', `${JSON.stringify(flag.slice(0, 50))} is not a valid keyword`, 400);
  }
  return flag;
}

/** Normalized, without repeats, at most MAX_FLAGS_PER_MESSAGE. */
export function normalizeFlags(flags: readonly string[]): string[] {
  const out = [...new Set(flags.map(normalizeFlag))];
  if (out.length > MAX_FLAGS_PER_MESSAGE) throw new AppError('flags.too_many', `a message carries at most ${MAX_FLAGS_PER_MESSAGE} flags`, 400);
  return out;
}

/**
 * A custom folder's name: trimmed, non-empty, at most 200 characters, no control characters,
 * none of IMAP's LIST wildcards (* %), and not INBOX (in any case: IMAP reserves it).
 */
export function validateMailboxName(input: string): string {
  const name = input.trim();
  if (name.length === 0) throw new AppError('mailbox.name_invalid', 'a folder name cannot be empty', 400);
  if ([...name].length > MAX_MAILBOX_NAME_LENGTH) throw new AppError('mailbox.name_invalid', `a folder name has at most ${MAX_MAILBOX_NAME_LENGTH} characters`, 400);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) throw new AppError('mailbox.name_invalid', 'a folder name cannot contain control characters', 400);
  if (/[*%]/.test(name)) throw new AppError('mailbox.name_invalid', 'a folder name cannot contain * or %', 400);
  if (name.toUpperCase() === 'INBOX') throw new AppError('mailbox.exists', 'INBOX already exists', 409);
  return name;
}

/** Message ids as given by a client: positive integers, deduplicated, ascending (else 404: nothing changes). */
export function uniqueIds(ids: readonly number[]): number[] {
  for (const id of ids) if (!Number.isSafeInteger(id) || id <= 0) throw new AppError('message.not_found', 'no such message', 404);
  return [...new Set(ids)].sort((a, b) => a - b);
}
