import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signed links to a message's inline images too large to carry in the rendered HTML (render.ts).
 * The reader's frame is sandboxed with an opaque origin, so the session cookie does not go with
 * its image requests: the link itself says whose message, which part and until when, with an
 * HMAC-SHA256 under a key derived from the server's secret key (never the key itself, which seals
 * secrets at rest). A link is good for `ttlSeconds` (default one hour) and for that one part of
 * that one user's message; the route still loads the part scoped by that user.
 */
export interface InlineImageLink {
  userId: number;
  messageId: number;
  index: number;
  /** Unix seconds after which the link is refused. */
  expires: number;
}

export interface InlineImageLinks {
  /** The URL of the part, good from `now` for the links' lifetime. */
  url(link: Omit<InlineImageLink, 'expires'>, now?: Date): string;
  /** Whether `signature` signs `link` and the link has not expired at `now`. */
  verify(link: InlineImageLink, signature: string, now?: Date): boolean;
}

export function createInlineImageLinks(secretKey: Buffer, options: { ttlSeconds?: number } = {}): InlineImageLinks {
  const key = createHmac('sha256', secretKey).update('mailyard inline-image links v1').digest();
  const ttl = options.ttlSeconds ?? 3600;
  const sign = (l: InlineImageLink) => createHmac('sha256', key).update(`${l.userId}.${l.messageId}.${l.index}.${l.expires}`).digest();
  return {
    url(link, now = new Date()) {
      const expires = Math.floor(now.getTime() / 1000) + ttl;
      const signature = sign({ ...link, expires }).toString('base64url');
      return `/api/messages/${link.messageId}/attachments/${link.index}/inline?u=${link.userId}&e=${expires}&s=${signature}`;
    },
    verify(link, signature, now = new Date()) {
      if (link.expires < now.getTime() / 1000) return false;
      const given = Buffer.from(signature, 'base64url');
      const expected = sign(link);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
