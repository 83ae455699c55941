import { describe, expect, it } from 'vitest';
import { APP_PASSWORD_PATTERN, generateAppPassword } from './app-password.js';

describe('generateAppPassword', () => {
  it('gives 4 groups of 4 lowercase letters or digits', () => {
    for (let i = 0; i < 200; i++) expect(generateAppPassword()).toMatch(APP_PASSWORD_PATTERN);
  });
  it('never repeats and uses the whole alphabet', () => {
    const seen = new Set<string>();
    const chars = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const p = generateAppPassword();
      seen.add(p);
      for (const c of p.replace(/-/g, '')) chars.add(c);
    }
    expect(seen.size).toBe(2000);
    expect(chars.size).toBe(36);
  });
});
