import { describe, expect, it } from 'vitest';
import { base32Decode, base32Encode, generateTotpSecret, hotp, totp, totpUri, verifyTotp } from './totp.js';

// RFC 4226 Appendix D and RFC 6238 Appendix B test seeds (ASCII).
const SEED_SHA1 = Buffer.from('12345678901234567890');
const SEED_SHA256 = Buffer.from('12345678901234567890123456789012');
const SEED_SHA512 = Buffer.from('1234567890123456789012345678901234567890123456789012345678901234');

describe('base32 (RFC 4648)', () => {
  const vectors: [string, string][] = [
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ];
  it.each(vectors)('encodes %j as %s without padding', (plain, encoded) => {
    expect(base32Encode(Buffer.from(plain))).toBe(encoded);
  });
  it.each(vectors)('decodes back to %j, with or without padding', (plain, encoded) => {
    expect(base32Decode(encoded).toString()).toBe(plain);
    expect(base32Decode(encoded.padEnd(Math.ceil(encoded.length / 8) * 8, '=')).toString()).toBe(plain);
  });
  it('decodes case-insensitively and ignores spaces and dashes as people type them', () => {
    expect(base32Decode('mzxw 6ytb-oi').toString()).toBe('foobar');
  });
  it('refuses characters outside the alphabet', () => {
    expect(() => base32Decode('MZXW1')).toThrow(/base32/);
    expect(() => base32Decode('MZXW8')).toThrow(/base32/);
  });
  it('round-trips random secrets', () => {
    for (let i = 0; i < 20; i++) {
      const secret = generateTotpSecret();
      expect(secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(base32Encode(base32Decode(secret))).toBe(secret);
    }
  });
});

describe('HOTP (RFC 4226 Appendix D)', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
  it.each(expected.map((code, counter) => [counter, code] as const))('counter %i gives %s', (counter, code) => {
    expect(hotp(SEED_SHA1, counter)).toBe(code);
  });
});

describe('TOTP (RFC 6238 Appendix B)', () => {
  const vectors: [number, string, string, string][] = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ];
  it.each(vectors)('at T=%i s: SHA-1 %s, SHA-256 %s, SHA-512 %s (8 digits)', (seconds, sha1, sha256, sha512) => {
    const timeMs = seconds * 1000;
    expect(totp(SEED_SHA1, timeMs, { digits: 8 })).toBe(sha1);
    expect(totp(SEED_SHA256, timeMs, { digits: 8, algorithm: 'sha256' })).toBe(sha256);
    expect(totp(SEED_SHA512, timeMs, { digits: 8, algorithm: 'sha512' })).toBe(sha512);
  });
  it('defaults to 6 digits: the last six of the 8-digit SHA-1 vector', () => {
    expect(totp(SEED_SHA1, 1111111109 * 1000)).toBe('081804');
  });
});

describe('verifyTotp', () => {
  const t = 1234567890 * 1000; // step 41152263
  const step = Math.floor(1234567890 / 30);

  it('accepts the current code and returns its time step', () => {
    expect(verifyTotp(SEED_SHA1, totp(SEED_SHA1, t), { timeMs: t })).toBe(step);
  });
  it('accepts the previous and next step (clock skew) and says which step matched', () => {
    expect(verifyTotp(SEED_SHA1, totp(SEED_SHA1, t - 30_000), { timeMs: t })).toBe(step - 1);
    expect(verifyTotp(SEED_SHA1, totp(SEED_SHA1, t + 30_000), { timeMs: t })).toBe(step + 1);
  });
  it('refuses codes two steps away', () => {
    expect(verifyTotp(SEED_SHA1, totp(SEED_SHA1, t - 60_000), { timeMs: t })).toBeNull();
    expect(verifyTotp(SEED_SHA1, totp(SEED_SHA1, t + 60_000), { timeMs: t })).toBeNull();
  });
  it('refuses a wrong code, a code of the wrong length and non-digits', () => {
    const good = totp(SEED_SHA1, t);
    const wrong = String((Number(good) + 1) % 1_000_000).padStart(6, '0');
    expect(verifyTotp(SEED_SHA1, wrong, { timeMs: t })).toBeNull();
    expect(verifyTotp(SEED_SHA1, good.slice(1), { timeMs: t })).toBeNull();
    expect(verifyTotp(SEED_SHA1, `${good}0`, { timeMs: t })).toBeNull();
    expect(verifyTotp(SEED_SHA1, 'abcdef', { timeMs: t })).toBeNull();
    expect(verifyTotp(SEED_SHA1, '', { timeMs: t })).toBeNull();
  });
  it('refuses a code made with another secret', () => {
    expect(verifyTotp(base32Decode(generateTotpSecret()), totp(SEED_SHA1, t), { timeMs: t })).toBeNull();
  });
});

describe('totpUri', () => {
  it('builds a Key Uri Format URL with issuer, account, and the SHA-1/6/30 parameters', () => {
    const url = new URL(totpUri({ secret: 'JBSWY3DPEHPK3PXP', account: 'amy@example.com', issuer: 'Mailyard' }));
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe('/Mailyard:amy@example.com');
    expect(Object.fromEntries(url.searchParams)).toEqual({ secret: 'JBSWY3DPEHPK3PXP', issuer: 'Mailyard', algorithm: 'SHA1', digits: '6', period: '30' });
  });
});
