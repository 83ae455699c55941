/**
 * The document an HTML mail is shown in: `srcdoc` of an iframe whose `sandbox` allows neither
 * scripts nor same-origin. Its own CSP allows inline styles, images from data: (inline parts the
 * server put in the HTML) and this server (signed links to larger inline parts: the frame's opaque
 * origin sends no cookie), and remote https images only once the user asked; nothing else loads.
 * Links open in a new tab without a referrer.
 */
export function mailDocument(html: string, options: { remoteImages: boolean; origin: string }): string {
  const images = ['data:', options.origin, ...(options.remoteImages ? ['https:'] : [])].join(' ');
  const csp = `default-src 'none'; img-src ${images}; style-src 'unsafe-inline'; font-src data:; base-uri 'none'; form-action 'none'`;
  return [
    '<!doctype html><html><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="referrer" content="no-referrer"><base target="_blank">',
    '<style>html{color-scheme:light}body{margin:16px;font:14px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1f24;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}pre{white-space:pre-wrap}</style>',
    `</head><body>${html}</body></html>`,
  ].join('');
}
