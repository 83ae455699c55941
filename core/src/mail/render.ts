import { simpleParser } from 'mailparser';
import { cleanText } from './parse.js';
import { sanitizeMailHtml } from './render/sanitize.js';

/**
 * A message prepared for display: plain text, and HTML that is safe to put in a sandboxed frame
 * (render/sanitize.ts: allow-listed tags, attributes and CSS; remote images only on request;
 * inline `cid:` images as data: URLs, or when too large at the URLs the caller gives). At most the first
 * MAX_RENDERED_CHARS of the HTML and of the text are rendered, and `truncated` says when that cut
 * something: the whole message stays available as a download. This runs in the caller's thread;
 * the reader's path goes through render/renderer.ts, which runs it on worker threads and caches it.
 */
export interface RenderedMessage {
  text: string;
  html: string | null;
  hasRemoteContent: boolean;
  /** The HTML or the text was longer than MAX_RENDERED_CHARS and only its start was rendered. */
  truncated: boolean;
  attachments: Array<{ index: number; filename: string | null; contentType: string; size: number; contentId: string | null; inline: boolean }>;
}

/** How much of a message's HTML, and of its text, is rendered (2 MiB of characters each). */
export const MAX_RENDERED_CHARS = 2 * 1024 * 1024;

/**
 * Inline images the rendered HTML carries itself, as `data:` URLs: the reader's frame is sandboxed
 * with an opaque origin, so the session cookie does not go with its requests. Raster types only
 * (the ones the sanitizer keeps as data: images), each up to MAX_INLINED_IMAGE_BYTES and
 * MAX_INLINED_BYTES_PER_MESSAGE in all; any other inline part is shown from `attachmentUrl`.
 */
export const MAX_INLINED_IMAGE_BYTES = 512 * 1024;
export const MAX_INLINED_BYTES_PER_MESSAGE = 2 * 1024 * 1024;
const INLINED_IMAGE_TYPES = new Set(['image/png', 'image/gif', 'image/jpeg', 'image/webp']);

/** One parse configuration for display and download, so attachment indexes agree. */
const PARSE_OPTIONS = { skipImageLinks: true, skipTextLinks: true } as const;

export async function renderMessage(raw: Buffer, options: { allowRemoteImages: boolean; attachmentUrl: (index: number) => string }): Promise<RenderedMessage> {
  const mail = await simpleParser(raw, PARSE_OPTIONS);
  const attachments = mail.attachments.map((a, index) => ({
    index,
    filename: a.filename ? cleanText(a.filename, 500) : null,
    contentType: a.contentType,
    size: a.size ?? a.content.length,
    contentId: a.contentId ? a.contentId.replace(/^<|>$/g, '') : null,
    inline: a.contentDisposition === 'inline' || Boolean(a.related),
  }));
  let html: string | null = null;
  let hasRemoteContent = false;
  let truncated = (mail.text ?? '').length > MAX_RENDERED_CHARS;
  if (typeof mail.html === 'string') {
    truncated ||= mail.html.length > MAX_RENDERED_CHARS;
    const byCid = new Map(attachments.filter((a) => a.contentId).map((a) => [a.contentId!, a.index]));
    const inlined = new Map<number, string>();
    let inlineBudget = MAX_INLINED_BYTES_PER_MESSAGE;
    const imageUrl = (index: number): string => {
      const known = inlined.get(index);
      if (known) return known;
      const { content, contentType } = mail.attachments[index]!;
      const type = (contentType ?? '').toLowerCase();
      if (!INLINED_IMAGE_TYPES.has(type) || content.length > Math.min(MAX_INLINED_IMAGE_BYTES, inlineBudget)) return options.attachmentUrl(index);
      inlineBudget -= content.length;
      const url = `data:${type};base64,${content.toString('base64')}`;
      inlined.set(index, url);
      return url;
    };
    const result = sanitizeMailHtml(mail.html.slice(0, MAX_RENDERED_CHARS), {
      allowRemoteImages: options.allowRemoteImages,
      cidUrl: (cid) => {
        const index = byCid.get(cid.replace(/^<|>$/g, ''));
        return index === undefined ? null : imageUrl(index);
      },
    });
    html = result.html;
    hasRemoteContent = result.hasRemoteContent;
  }
  return { text: cleanText(mail.text ?? '', MAX_RENDERED_CHARS), html, hasRemoteContent, truncated, attachments };
}

/** One attachment's bytes, as a download serves them. */
export interface MessageAttachment {
  filename: string | null;
  contentType: string;
  content: Buffer;
}

/**
 * Attachments `indexes` of a message (the same numbering `renderMessage` gives), from one parse;
 * null for an index that has none. The content type is passed through only when it is a
 * well-formed type/subtype. This runs in the caller's thread: a stored message's attachment is
 * loaded with `loadMessagePart` (message-content.ts), which runs it on the renderer's workers.
 */
export async function loadAttachments(raw: Buffer, indexes: readonly number[]): Promise<Array<MessageAttachment | null>> {
  const mail = await simpleParser(raw, PARSE_OPTIONS);
  return indexes.map((index) => {
    const a = mail.attachments[index];
    if (!a) return null;
    const type = (a.contentType ?? '').toLowerCase();
    return {
      filename: a.filename ? cleanText(a.filename, 500) : null,
      contentType: /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/.test(type) ? type : 'application/octet-stream',
      content: a.content,
    };
  });
}
