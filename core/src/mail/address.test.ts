import { describe, expect, it } from 'vitest';
import { parseAddress, requireAddress, stripPlusTag } from './address.js';

describe('parseAddress', () => {
  it('lower-cases and splits a plain address', () => {
    expect(parseAddress('  Alice@Example.COM ')).toEqual({ address: 'alice@example.com', local: 'alice', domain: 'example.com' });
  });
  it('accepts internationalised addresses', () => {
    expect(parseAddress('jörg@bücher.de')?.domain).toBe('bücher.de');
  });
  it('rejects what is not an address', () => {
    for (const bad of ['', 'alice', '@example.com', 'alice@', 'a b@example.com', 'alice@localhost', 'a..b@example.com', 'alice@-bad.com', '<a@b.com>']) {
      expect(parseAddress(bad), bad).toBeNull();
    }
  });
  it('throws a coded error naming the input', () => {
    expect(() => requireAddress('nope')).toThrow(/"nope" is not a valid mail address/);
  });
});

describe('stripPlusTag', () => {
  it('removes the +tag from the local part', () => {
    expect(stripPlusTag(parseAddress('bob+news@example.com')!)?.address).toBe('bob@example.com');
    expect(stripPlusTag(parseAddress('bob@example.com')!)).toBeNull();
    expect(stripPlusTag(parseAddress('+x@example.com')!)).toBeNull();
  });
});
