import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_INLINED_BYTES_PER_MESSAGE, MAX_INLINED_IMAGE_BYTES, MAX_RENDERED_CHARS, loadAttachments, renderMessage } from '../render.js';
import { createMessageRenderer, type MessageRenderer } from './renderer.js';

// One renderer for the file (starting workers from the sources is slow); each test uses its own message ids.
let renderer: MessageRenderer;
beforeAll(() => {
  renderer = createMessageRenderer({ workers: 1 });
});
afterAll(async () => {
  await renderer.close();
});

function html(body: string, subject = 'Hello'): Buffer {
  return Buffer.from(`From: a@b.test\r\nTo: c@d.test\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${body}\r\n`);
}

const withInlineImage = Buffer.from(
  [
    'From: a@b.test',
    'To: c@d.test',
    'Subject: logo',
    'MIME-Version: 1.0',
    'Content-Type: multipart/related; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p>Look</p><img src="cid:logo@b.test"><img src=" https://t/x">',
    '--b1',
    // SVG is never put in the HTML as a data: URL: it is shown from the caller's URL.
    'Content-Type: image/svg+xml',
    'Content-ID: <logo@b.test>',
    'Content-Disposition: inline; filename="logo.svg"',
    'Content-Transfer-Encoding: base64',
    '',
    'PHN2Zy8+',
    '--b1--',
    '',
  ].join('\r\n'),
);

const url = (id: number) => (index: number) => `/api/messages/${id}/attachments/${index}`;

/** An HTML mail showing inline images of these types and sizes (cid `i<n>`), each referenced twice. */
function withImages(images: Array<{ type: string; bytes: number }>): Buffer {
  const parts = images.map(({ type, bytes }, n) =>
    ['--b1', `Content-Type: ${type}`, `Content-ID: <i${n}>`, 'Content-Transfer-Encoding: base64', '', Buffer.alloc(bytes, n + 1).toString('base64').replace(/.{76}/g, '$&\r\n')].join('\r\n'),
  );
  const body = images.map((_, n) => `<img src="cid:i${n}"><img src="cid:i${n}">`).join('');
  return Buffer.from(['From: a@b.test', 'To: c@d.test', 'Subject: pictures', 'MIME-Version: 1.0', 'Content-Type: multipart/related; boundary="b1"', '', '--b1', 'Content-Type: text/html', '', body, ...parts, '--b1--', ''].join('\r\n'));
}

/** The src of each <img> in rendered HTML, in order; a data: URL as `data <type> <first byte> x <bytes>`. */
const sources = (rendered: { html: string | null }) =>
  [...rendered.html!.matchAll(/<img src="([^"]*)"/g)].map(([, src]) => {
    const data = /^data:([^;]+);base64,(.*)$/.exec(src!);
    if (!data) return src;
    const bytes = Buffer.from(data[2]!, 'base64');
    return bytes.every((b) => b === bytes[0]) ? `data ${data[1]} ${bytes[0]} x ${bytes.length}` : 'data: mixed bytes';
  });

describe('message renderer', () => {
  it('renders on a worker exactly as in the caller\'s thread, inline images at the caller\'s URLs', async () => {
    const options = { allowRemoteImages: false, attachmentUrl: url(7) };
    const rendered = await renderer.render(7, withInlineImage, options);
    expect(rendered).toEqual(await renderMessage(withInlineImage, options));
    expect(rendered.html).toBe('<p>Look</p><img src="/api/messages/7/attachments/0" /><img alt="" data-blocked="1" />');
    expect(rendered.hasRemoteContent).toBe(true);
    expect(rendered.truncated).toBe(false);
  });

  it('puts small raster inline images in the HTML as data: URLs, within a per-image and a per-message limit', async () => {
    const half = MAX_INLINED_IMAGE_BYTES / 2;
    const images = [
      { type: 'image/png', bytes: 10 },
      { type: 'image/svg+xml', bytes: 10 },
      { type: 'image/jpeg', bytes: MAX_INLINED_IMAGE_BYTES + 1 },
      ...Array.from({ length: MAX_INLINED_BYTES_PER_MESSAGE / MAX_INLINED_IMAGE_BYTES }, () => ({ type: 'image/gif', bytes: MAX_INLINED_IMAGE_BYTES })),
      { type: 'image/webp', bytes: half },
    ];
    const rendered = await renderMessage(withImages(images), { allowRemoteImages: false, attachmentUrl: url(9) });
    const data = (n: number, type: string, bytes: number) => `data ${type} ${n + 1} x ${bytes}`;
    // Each image twice: a repeated image counts once against the budget. The small PNG and the
    // first three full-size GIFs fit in 2 MiB; the fourth GIF does not, the smaller WebP still does.
    expect(sources(rendered)).toEqual(
      [
        data(0, 'image/png', 10),
        url(9)(1),
        url(9)(2),
        data(3, 'image/gif', MAX_INLINED_IMAGE_BYTES),
        data(4, 'image/gif', MAX_INLINED_IMAGE_BYTES),
        data(5, 'image/gif', MAX_INLINED_IMAGE_BYTES),
        url(9)(6),
        data(7, 'image/webp', half),
      ].flatMap((src) => [src, src]),
    );
    // On a worker, the same.
    expect(sources(await renderer.render(9, withImages(images), { allowRemoteImages: false, attachmentUrl: url(9) }))).toEqual(sources(rendered));
  });

  it('does not parse a message twice: a second view comes from the cache, with the URLs asked for', async () => {
    const first = await renderer.render(8, withInlineImage, { allowRemoteImages: false, attachmentUrl: url(8) });
    const entries = renderer.stats().cachedEntries;
    // Different bytes under the same id: a cache hit cannot have parsed them.
    const again = await renderer.render(8, html('<p>other</p>'), { allowRemoteImages: false, attachmentUrl: (i) => `/elsewhere/${i}?a&b` });
    expect(again.text).toBe(first.text);
    expect(again.html).toBe('<p>Look</p><img src="/elsewhere/0?a&amp;b" /><img alt="" data-blocked="1" />');
    expect(renderer.stats().cachedEntries).toBe(entries);
    // The remote-images choice is its own rendering.
    const remote = await renderer.render(8, withInlineImage, { allowRemoteImages: true, attachmentUrl: url(8) });
    expect(remote.html).toContain('<img src="https://t/x" />');
    expect(renderer.stats().cachedEntries).toBe(entries + 1);
  });

  it('warms every worker with a rendering of its own, caching nothing', async () => {
    const fresh = createMessageRenderer({ workers: 2 });
    try {
      await fresh.warm();
      expect(fresh.stats()).toMatchObject({ workers: 2, busy: 0, queued: 0, cachedEntries: 0, cachedBytes: 0 });
    } finally {
      await fresh.close();
    }
    await expect(fresh.warm()).rejects.toMatchObject({ code: 'worker_pool.closed' });
  });

  it('shares one rendering between concurrent requests for the same message', async () => {
    const options = { allowRemoteImages: false, attachmentUrl: url(3) };
    const both = Promise.all([renderer.render(3, html('<p>one</p>'), options), renderer.render(3, html('<p>two</p>'), options)]);
    expect(renderer.stats()).toMatchObject({ busy: 1, queued: 0 });
    const [a, b] = await both;
    expect(a.html!.trim()).toBe('<p>one</p>');
    expect(b).toEqual(a);
  });

  it('keeps the cache within its byte budget, dropping the least recently used', async () => {
    const small = createMessageRenderer({ workers: 1, cacheBytes: 9_000 });
    const options = { allowRemoteImages: false, attachmentUrl: url(1) };
    const body = (n: number) => html(`<p>${String(n).repeat(900)}</p>`); // about 4 KB rendered: two fit
    try {
      await small.render(1, body(1), options);
      await small.render(2, body(2), options);
      await small.render(1, body(9), options); // 1 is now the most recent
      await small.render(3, body(3), options); // over budget: 2 goes
      expect(small.stats()).toMatchObject({ cachedEntries: 2 });
      expect(small.stats().cachedBytes).toBeLessThanOrEqual(9_000);
      expect((await small.render(1, body(9), options)).html).toContain('111');
      expect((await small.render(2, body(8), options)).html).toContain('888');
    } finally {
      await small.close();
    }
  });

  it('renders only the start of a huge HTML body and says so', async () => {
    const big = html(`<p>${'word '.repeat(Math.ceil(MAX_RENDERED_CHARS / 5) + 1000)}</p><p>the end</p>`);
    const rendered = await renderer.render(11, big, { allowRemoteImages: false, attachmentUrl: url(11) });
    expect(rendered.truncated).toBe(true);
    expect(rendered.html!.length).toBeLessThanOrEqual(MAX_RENDERED_CHARS + 10);
    expect(rendered.html).not.toContain('the end');
    expect(rendered.html!.startsWith('<p>word word')).toBe(true);
  });

  it('takes attachments out on a worker, as bytes equal to the caller\'s thread\'s, from one parse for several', async () => {
    const attachment = Buffer.alloc(300_000, 7);
    const mixed = Buffer.from(
      [
        'From: a@b.test',
        'To: c@d.test',
        'Subject: files',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="m1"',
        '',
        '--m1',
        'Content-Type: text/plain',
        '',
        'two files',
        '--m1',
        'Content-Type: application/x-weird',
        'Content-Disposition: attachment; filename="data.bin"',
        'Content-Transfer-Encoding: base64',
        '',
        attachment.toString('base64').replace(/.{76}/g, '$&\r\n'),
        '--m1',
        'Content-Type: text/csv',
        'Content-Disposition: attachment; filename="t.csv"',
        '',
        'a,b',
        '--m1--',
        '',
      ].join('\r\n'),
    );
    const [data, csv, missing] = await renderer.attachments(mixed, [0, 1, 5]);
    expect(Buffer.isBuffer(data!.content)).toBe(true);
    expect(data!.content.equals(attachment)).toBe(true);
    expect(data).toMatchObject({ filename: 'data.bin', contentType: 'application/x-weird' });
    expect(csv).toMatchObject({ filename: 't.csv', contentType: 'text/csv' });
    expect(csv!.content.toString()).toBe('a,b');
    expect(missing).toBeNull();
    expect(await loadAttachments(mixed, [1])).toEqual([csv]);
  });
});
