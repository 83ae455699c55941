import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
// The largest multiple of 36 below 256: bytes at or above it are skipped, so every character is equally likely.
const UNBIASED_LIMIT = 256 - (256 % ALPHABET.length);

/** App passwords look like `abcd-ef12-ghi3-jk45`: 16 characters from 36, ~82 bits. */
export const APP_PASSWORD_PATTERN = /^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$/;

/** A user may hold this many app passwords (IMAP/SMTP sign-in tries each hash in turn). */
export const MAX_APP_PASSWORDS = 20;

/** A new random app password: 4 groups of 4 lowercase letters/digits, from crypto.randomBytes. */
export function generateAppPassword(): string {
  const chars: string[] = [];
  while (chars.length < 16) {
    for (const byte of randomBytes(32)) {
      if (byte < UNBIASED_LIMIT && chars.length < 16) chars.push(ALPHABET[byte % ALPHABET.length]!);
    }
  }
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join('')).join('-');
}
