import { describe, expect, it } from 'vitest';
import { sameSecret } from './auth.plugin.js';

/** The CSRF header check compares in constant time (hashed to equal lengths first); here, that it still compares right. */
describe('sameSecret', () => {
  const token = 'q0Jx6cS3v8xQbYI9mT2Zt1rW';
  it('accepts the exact token', () => {
    expect(sameSecret(token, token)).toBe(true);
  });

  it.each([
    ['a different token of the same length', `${token.slice(0, -1)}X`],
    ['a prefix', token.slice(0, 10)],
    ['a longer value starting with the token', `${token}x`],
    ['an empty value', ''],
    ['different case', token.toUpperCase()],
    ['non-ASCII text of the same length', 'é'.repeat(token.length)],
  ])('refuses %s', (_what, given) => {
    expect(sameSecret(given, token)).toBe(false);
  });
});
