import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createInlineImageLinks } from './inline-image-links.js';

const key = randomBytes(32);
const links = createInlineImageLinks(key, { ttlSeconds: 600 });
const now = new Date('2026-12-06T12:00:00Z');
const part = { userId: 4, messageId: 91, index: 2 };

/** The link's fields as the route reads them back from its URL. */
function parse(url: string) {
  const u = new URL(url, 'http://x');
  const [, , , id, , index] = u.pathname.split('/');
  return { link: { userId: Number(u.searchParams.get('u')), messageId: Number(id), index: Number(index), expires: Number(u.searchParams.get('e')) }, signature: u.searchParams.get('s')! };
}

describe('inline image links', () => {
  it('signs a link to one part that verifies until it expires', () => {
    const { link, signature } = parse(links.url(part, now));
    expect(link).toEqual({ ...part, expires: now.getTime() / 1000 + 600 });
    expect(links.verify(link, signature, now)).toBe(true);
    expect(links.verify(link, signature, new Date(now.getTime() + 600_000))).toBe(true);
    expect(links.verify(link, signature, new Date(now.getTime() + 601_000))).toBe(false);
  });

  it('refuses a link changed in any field, or signed under another key', () => {
    const { link, signature } = parse(links.url(part, now));
    for (const changed of [{ userId: 5 }, { messageId: 92 }, { index: 3 }, { expires: link.expires + 3600 }]) {
      expect(links.verify({ ...link, ...changed }, signature, now)).toBe(false);
    }
    expect(links.verify(link, signature.slice(0, -2), now)).toBe(false);
    expect(links.verify(link, `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`, now)).toBe(false);
    expect(createInlineImageLinks(randomBytes(32)).verify(link, signature, now)).toBe(false);
  });
});
