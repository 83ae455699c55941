import { simpleParser } from 'mailparser';
import sanitizeHtml from 'sanitize-html';
import { cleanText } from './parse.js';

/**
 * A message prepared for display: plain text, and HTML that is safe to put in a sandboxed frame.
 * Scripts, event handlers, forms, frames and styles that can load things are removed; remote
 * images are dropped unless the reader asked for them (tracking pixels stay silent), and inline
 * `cid:` images point at the message's attachment URLs.
 */
export interface RenderedMessage {
  text: string;
  html: string | null;
  hasRemoteContent: boolean;
  attachments: Array<{ index: number; filename: string | null; contentType: string; size: number; contentId: string | null; inline: boolean }>;
}

const ALLOWED_TAGS = [
  'a', 'abbr', 'b', 'blockquote', 'br', 'caption', 'center', 'code', 'col', 'colgroup', 'dd', 'del', 'div', 'dl', 'dt', 'em', 'font',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'ins', 'li', 'ol', 'p', 'pre', 'q', 's', 'small', 'span', 'strike', 'strong',
  'sub', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr', 'u', 'ul',
];

/** CSS that cannot fetch anything: no url(), no @import, no expression(). */
function safeStyle(value: string): string {
  return /url\s*\(|@import|expression\s*\(|behavior\s*:|-moz-binding/i.test(value) ? '' : value;
}

export function sanitizeMailHtml(html: string, options: { allowRemoteImages: boolean; cidUrl: (cid: string) => string | null }): { html: string; hasRemoteContent: boolean } {
  let hasRemoteContent = false;
  const clean = sanitizeHtml(html, {
    allowedTags: ALLOWED_TAGS,
    allowedAttributes: {
      '*': ['style', 'align', 'valign', 'width', 'height', 'bgcolor', 'color', 'dir', 'lang', 'title'],
      a: ['href', 'name', 'target', 'rel'],
      img: ['src', 'alt', 'width', 'height'],
      font: ['face', 'size', 'color'],
      td: ['colspan', 'rowspan'],
      th: ['colspan', 'rowspan'],
      table: ['border', 'cellpadding', 'cellspacing'],
    },
    allowedSchemes: ['http', 'https', 'mailto', 'cid'],
    allowedSchemesByTag: { img: ['http', 'https', 'cid', 'data'] },
    allowProtocolRelative: false,
    nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'title', 'head'],
    transformTags: {
      a: (tagName, attribs) => ({ tagName, attribs: { ...attribs, target: '_blank', rel: 'noopener noreferrer nofollow' } }),
      img: (tagName, attribs) => {
        const src = attribs.src ?? '';
        if (/^cid:/i.test(src)) {
          const url = options.cidUrl(src.slice(4));
          return url ? { tagName, attribs: { ...attribs, src: url } } : { tagName: 'span', attribs: {} };
        }
        if (/^https?:/i.test(src)) {
          hasRemoteContent = true;
          if (!options.allowRemoteImages) return { tagName, attribs: { alt: attribs.alt ?? '', 'data-blocked': '1' } };
        }
        return { tagName, attribs };
      },
    },
    allowedStyles: undefined,
    exclusiveFilter: () => false,
  });
  // sanitize-html keeps style attributes verbatim; strip those that could load remote content.
  const html2 = clean.replace(/\sstyle="([^"]*)"/gi, (_m, v: string) => {
    const safe = safeStyle(v);
    if (safe !== v) hasRemoteContent = true;
    return safe ? ` style="${safe}"` : '';
  });
  return { html: html2, hasRemoteContent };
}

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
  if (typeof mail.html === 'string') {
    const byCid = new Map(attachments.filter((a) => a.contentId).map((a) => [a.contentId!, a.index]));
    const result = sanitizeMailHtml(mail.html, {
      allowRemoteImages: options.allowRemoteImages,
      cidUrl: (cid) => {
        const index = byCid.get(cid.replace(/^<|>$/g, ''));
        return index === undefined ? null : options.attachmentUrl(index);
      },
    });
    html = result.html;
    hasRemoteContent = result.hasRemoteContent;
  }
  return { text: cleanText(mail.text ?? '', 2_000_000), html, hasRemoteContent, attachments };
}

/** One attachment's bytes, as a download serves them. */
export interface MessageAttachment {
  filename: string | null;
  contentType: string;
  content: Buffer;
}

/**
 * Attachment `index` of a message (the same numbering `renderMessage` gives), or null when there
 * is none. The content type is passed through only when it is a well-formed type/subtype.
 * A stored message's attachment is loaded with `loadMessagePart` (message-content.ts).
 */
export async function loadAttachment(raw: Buffer, index: number): Promise<MessageAttachment | null> {
  const mail = await simpleParser(raw, PARSE_OPTIONS);
  const a = mail.attachments[index];
  if (!a) return null;
  const type = (a.contentType ?? '').toLowerCase();
  return {
    filename: a.filename ? cleanText(a.filename, 500) : null,
    contentType: /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/.test(type) ? type : 'application/octet-stream',
    content: a.content,
  };
}
