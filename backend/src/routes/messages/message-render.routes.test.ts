import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestBackend, signInTwoUsers, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { ingestMessage } from '../../../../core/src/mail/mailbox-writer/index.js';
import { summarizeMessage } from '../../../../core/src/mail/parse.js';
import { MAX_INLINED_IMAGE_BYTES, MAX_RENDERED_CHARS } from '../../../../core/src/mail/render.js';
import { sharedMessageRenderer } from '../../../../core/src/mail/render/renderer.js';
import type * as SanitizeModule from '../../../../core/src/mail/render/sanitize.js';

// Counts sanitizer calls on this (the event loop's) thread; render workers load the real module apart.
const onEventLoop = vi.hoisted(() => ({ sanitized: 0 }));
vi.mock('../../../../core/src/mail/render/sanitize.js', async (importOriginal) => {
  const real = await importOriginal<typeof SanitizeModule>();
  return {
    ...real,
    sanitizeMailHtml: (...args: Parameters<typeof real.sanitizeMailHtml>) => {
      onEventLoop.sanitized++;
      return real.sanitizeMailHtml(...args);
    },
  };
});

let t: TestBackend;
let ann: Agent;

async function deliver(raw: Buffer): Promise<number> {
  const r = await ingestMessage(
    { db: t.store.db, events: { publish: async () => undefined } },
    { userId: ann.userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw), internalDate: new Date(), traceHeaders: 'Received: from test\r\n' },
  );
  return r.messageId;
}

function htmlMail(subject: string, body: string): Buffer {
  return Buffer.from(`From: Sam <sam@far.test>\r\nTo: ann@m.test\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${body}\r\n`);
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

beforeAll(async () => {
  t = await createTestBackend();
  ({ ann } = await signInTwoUsers(t));
});
afterAll(async () => {
  await t.close();
});

describe('GET /api/messages/:id renders safely', () => {
  it('blocks remote images hidden by whitespace and entities, and says there were some', async () => {
    const id = await deliver(htmlMail('pixel', '<p>Hi</p><img src=" ht&#x09;tps://t/x"><div style="position:fixed;background:u\\72l(https://t/x);color:red">x</div>'));
    const res = await t.app.inject({ method: 'GET', url: `/api/messages/${id}`, headers: { cookie: ann.cookie } });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { html: string; hasRemoteContent: boolean; truncated: boolean };
    expect(body.html.trim()).toBe('<p>Hi</p><img alt="" data-blocked="1" /><div style="color:red">x</div>');
    expect(body).toMatchObject({ hasRemoteContent: true, truncated: false });
  });

  it('renders the start of a 20 MB HTML message off the event loop: other requests are answered meanwhile', async () => {
    const line = `<p>${'lorem ipsum dolor sit amet '.repeat(36)}</p>\r\n`;
    const id = await deliver(htmlMail('huge', line.repeat(Math.ceil((20 * 1024 * 1024) / line.length)) + '<p>the end</p>'));
    let bigDone = false;
    const big = t.app.inject({ method: 'GET', url: `/api/messages/${id}`, headers: { cookie: ann.cookie } }).then((res) => {
      bigDone = true;
      return res;
    });
    // Once the message is on a render worker, the server still answers.
    await until(() => sharedMessageRenderer().stats().busy > 0);
    const health = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(bigDone).toBe(false);

    const res = await big;
    expect(res.statusCode).toBe(200);
    expect(onEventLoop.sanitized).toBe(0);
    const body = res.json() as { html: string; text: string; truncated: boolean };
    expect(body.truncated).toBe(true);
    expect(body.html.length).toBeLessThanOrEqual(MAX_RENDERED_CHARS + 16); // the cut, then the sanitizer closes what was open
    expect(body.html.startsWith('<p>lorem ipsum')).toBe(true);
    expect(body.html).not.toContain('the end');
    expect(body.text.length).toBeLessThanOrEqual(MAX_RENDERED_CHARS);

    // Viewed again (from the renderer's cache), it is the same.
    const again = await t.app.inject({ method: 'GET', url: `/api/messages/${id}`, headers: { cookie: ann.cookie } });
    expect(again.json()).toEqual(body);
  });
});

describe('inline images for the sandboxed reader frame', () => {
  const small = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
  const large = Buffer.alloc(MAX_INLINED_IMAGE_BYTES + 1, 7);
  const related = (subject: string) =>
    Buffer.from(
      [
        'From: Sam <sam@far.test>',
        'To: ann@m.test',
        `Subject: ${subject}`,
        'MIME-Version: 1.0',
        'Content-Type: multipart/related; boundary="b1"',
        '',
        '--b1',
        'Content-Type: text/html',
        '',
        '<img src="cid:small"><img src="cid:large">',
        ...[small, large].flatMap((bytes, n) => ['--b1', 'Content-Type: image/png', `Content-ID: <${n ? 'large' : 'small'}>`, 'Content-Transfer-Encoding: base64', '', bytes.toString('base64').replace(/.{76}/g, '$&\r\n')]),
        '--b1--',
        '',
      ].join('\r\n'),
    );

  it('carries a small image in the HTML and links a large one, signed, that loads without a session', async () => {
    const id = await deliver(related('pictures'));
    const res = await t.app.inject({ method: 'GET', url: `/api/messages/${id}`, headers: { cookie: ann.cookie } });
    const html = (res.json() as { html: string }).html;
    expect(html).toContain(`<img src="data:image/png;base64,${small.toString('base64')}" />`);
    const link = /<img src="(\/api\/messages\/\d+\/attachments\/1\/inline\?[^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
    expect(link).toMatch(new RegExp(`^/api/messages/${id}/attachments/1/inline\\?u=${ann.userId}&e=\\d+&s=[\\w-]+$`));

    const image = await t.app.inject({ method: 'GET', url: link });
    expect(image.statusCode).toBe(200);
    expect(image.rawPayload.equals(large)).toBe(true);
    expect(image.headers).toMatchObject({ 'content-type': 'image/png', 'x-content-type-options': 'nosniff', 'content-security-policy': 'sandbox' });

    // The same link changed in any part is refused, and the message id check still applies.
    for (const forged of [link.replace('/attachments/1/', '/attachments/0/'), link.replace(`u=${ann.userId}`, `u=${ann.userId + 1}`), link.replace(/e=(\d+)/, (_m, e: string) => `e=${Number(e) + 1}`), link.replace(`/messages/${id}/`, `/messages/${id + 1}/`)]) {
      const res = await t.app.inject({ method: 'GET', url: forged });
      expect(res.statusCode, forged).toBe(403);
      expect((res.json() as { error: { code: string } }).error.code).toBe('attachment.link_invalid');
    }
    expect((await t.app.inject({ method: 'GET', url: link.replace(/&s=.*$/, '') })).statusCode).toBe(400);
  });
});
