import sanitizeHtml from 'sanitize-html';
import { ALLOWED_STYLES } from './style-allowlist.js';

/**
 * A message's HTML made safe to show in the reader's sandboxed frame. Everything is allow-listed:
 * tags, attributes, URL schemes and (style-allowlist.ts) CSS properties and values. Nothing that
 * can fetch is kept except `<img src>`, and an image source is read the way a browser reads it
 * (entities decoded by the parser, tabs and newlines dropped, ends trimmed, `//host` and `\\host`
 * taken as remote) before it is judged: inline `cid:` images point at the attachment, raster
 * `data:` images stay, remote images stay only when the reader asked for them (tracking pixels
 * stay silent), and anything else loses its source. srcset, `<picture>`, `background=` and CSS
 * that loads things are never kept, whatever the reader chose, so they do not count as remote
 * content (showing images would not bring them back).
 */

const ALLOWED_TAGS = [
  'a', 'abbr', 'b', 'blockquote', 'br', 'caption', 'center', 'code', 'col', 'colgroup', 'dd', 'del', 'div', 'dl', 'dt', 'em', 'font',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'ins', 'li', 'ol', 'p', 'pre', 'q', 's', 'small', 'span', 'strike', 'strong',
  'sub', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'tr', 'u', 'ul',
];

export interface SanitizeOptions {
  allowRemoteImages: boolean;
  /** The URL an inline `cid:` image is shown from, or null when the message has no such part. */
  cidUrl: (cid: string) => string | null;
}

type ImageSource = { kind: 'cid'; cid: string } | { kind: 'data'; url: string } | { kind: 'remote'; url: string | null } | { kind: 'none' };

/** An attribute URL as a browser's URL parser sees it: tabs and newlines anywhere removed, controls and spaces trimmed. */
function normalizeUrl(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\t\n\r]/g, '').replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, '');
}

function classifyImageSource(src: string): ImageSource {
  const url = normalizeUrl(src);
  if (/^cid:/i.test(url)) return { kind: 'cid', cid: url.slice(4) };
  if (/^data:image\/(?:png|gif|jpe?g|webp);base64,[a-z0-9+/=]*$/i.test(url)) return { kind: 'data', url };
  if (/^(?:https?:|[\\/]{2})/i.test(url)) {
    try {
      const parsed = new URL(/^[\\/]/.test(url) ? `https:${url}` : url);
      return { kind: 'remote', url: parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null };
    } catch {
      return { kind: 'remote', url: null };
    }
  }
  return { kind: 'none' };
}

export function sanitizeMailHtml(html: string, options: SanitizeOptions): { html: string; hasRemoteContent: boolean } {
  let hasRemoteContent = false;
  const clean = sanitizeHtml(html, {
    allowedTags: ALLOWED_TAGS,
    allowedAttributes: {
      '*': ['style', 'align', 'valign', 'width', 'height', 'bgcolor', 'color', 'dir', 'lang', 'title'],
      a: ['href', 'name', 'target', 'rel'],
      img: ['src', 'alt', 'width', 'height', 'data-blocked'],
      font: ['face', 'size', 'color'],
      td: ['colspan', 'rowspan'],
      th: ['colspan', 'rowspan'],
      table: ['border', 'cellpadding', 'cellspacing'],
    },
    allowedStyles: ALLOWED_STYLES,
    allowedSchemes: ['http', 'https', 'mailto', 'cid'],
    allowedSchemesByTag: { img: ['http', 'https', 'data'] },
    allowProtocolRelative: false,
    nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'title', 'head'],
    transformTags: {
      a: (tagName, attribs) => ({ tagName, attribs: { ...attribs, target: '_blank', rel: 'noopener noreferrer nofollow' } }),
      img: (tagName, attribs) => {
        const { src, ...rest } = attribs;
        const source = classifyImageSource(src ?? '');
        switch (source.kind) {
          case 'cid': {
            const url = options.cidUrl(source.cid);
            return url ? { tagName, attribs: { ...rest, src: url } } : { tagName: 'span', attribs: {} };
          }
          case 'data':
            return { tagName, attribs: { ...rest, src: source.url } };
          case 'remote':
            hasRemoteContent = true;
            if (options.allowRemoteImages && source.url) return { tagName, attribs: { ...rest, src: source.url } };
            return { tagName, attribs: { alt: attribs.alt ?? '', 'data-blocked': '1' } };
          case 'none':
            return { tagName, attribs: rest };
        }
      },
    },
  });
  return { html: clean, hasRemoteContent };
}
