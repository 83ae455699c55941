import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import nodemailer from 'nodemailer';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { testSecrets } from '../helpers/secrets.js';
import { startWebmailStack, type WebmailStack } from '../helpers/webmail-stack.js';

/**
 * Inline (`cid:`) images in the reader's sandboxed frame, end to end in headless Chromium: the
 * built backend, smtp-server and inbound-worker as processes on a private store. The frame has an
 * opaque origin, so the session cookie does not go with its requests: a small inline image must
 * load from the rendered HTML itself (a data: URL) and a large one from a signed URL, while a
 * remote image in the same message stays blocked. Then the display name and signature set in
 * Settings: compose inserts the signature, and the mail goes out under the name.
 */

let stack: WebmailStack;
let smtpPort: number;
let base: string;
let browser: Browser;
let page: Page;

/** A PNG of `width`×`height` RGB pixels from `pixels` (random bytes make it incompressible). */
function png(width: number, height: number, pixels: (length: number) => Buffer): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) rows.push(Buffer.from([0]), pixels(width * 3));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

beforeAll(async () => {
  stack = await startWebmailStack({
    hostname: 'mx.inline.test',
    services: ['smtp-server', 'inbound-worker', 'backend'],
    setup: async (store) => {
      const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
      await accounts.addDomain('inline.test');
      await accounts.addUser({ address: 'ivy@inline.test', password: 'ivy password 1' });
    },
  });
  ({ base, smtpPort, browser } = stack);
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
});

afterAll(() => stack?.stop());


describe('inline images in the reader', () => {
  it('signs in', async () => {
    await page.goto(`${base}/`);
    await page.getByLabel('Email address').fill('ivy@inline.test');
    await page.getByLabel('Password').fill('ivy password 1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('No messages in Inbox.').waitFor();
  });

  it('loads small and large cid: images inside the sandboxed frame and keeps remote images blocked', async () => {
    const small = png(40, 30, (n) => Buffer.alloc(n, 0x66));
    const large = png(400, 300, (n) => randomBytes(n)); // ~360 KB of noise: under the per-image inline limit
    const huge = png(600, 400, (n) => randomBytes(n)); // ~720 KB: over the per-image inline limit
    expect(huge.length).toBeGreaterThan(512 * 1024);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, tls: { rejectUnauthorized: false } });
    try {
      const info = await transport.sendMail({
        from: 'Erin Example <erin@remote.test>',
        to: 'ivy@inline.test',
        subject: 'Pictures inline',
        text: 'pictures',
        html: '<p>Inline pictures</p><img alt="small" src="cid:small@x"><img alt="large" src="cid:large@x"><img alt="huge" src="cid:huge@x"><img alt="remote" src="https://remote.invalid/pixel.png">',
        attachments: [
          { filename: 'small.png', content: small, contentType: 'image/png', cid: 'small@x' },
          { filename: 'large.png', content: large, contentType: 'image/png', cid: 'large@x' },
          { filename: 'huge.png', content: huge, contentType: 'image/png', cid: 'huge@x' },
        ],
      });
      expect(info.response).toMatch(/^250/);
    } finally {
      transport.close();
    }
    const row = page.getByRole('option').filter({ hasText: 'Pictures inline' });
    await row.waitFor({ timeout: 30_000 });
    await row.click();

    const frame = page.frameLocator('iframe.mail-frame');
    await frame.getByText('Inline pictures').waitFor();
    const sizeOf = (alt: string) => frame.locator(`img[alt="${alt}"]`).evaluate((img) => {
      const image = img as unknown as { complete: boolean; naturalWidth: number };
      return image.complete ? image.naturalWidth : -1;
    });
    // The two under the per-image limit travel in the HTML; the huge one by its signed link.
    expect(await frame.locator('img[alt="small"]').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    expect(await frame.locator('img[alt="large"]').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    expect(await frame.locator('img[alt="huge"]').getAttribute('src')).toMatch(/^\/api\/messages\/\d+\/attachments\/2\/inline\?u=\d+&e=\d+&s=/);
    await expect.poll(() => sizeOf('small'), { timeout: 15_000 }).toBe(40);
    await expect.poll(() => sizeOf('large'), { timeout: 15_000 }).toBe(400);
    await expect.poll(() => sizeOf('huge'), { timeout: 15_000 }).toBe(600);
    // The remote image lost its source and the bar offers it.
    expect(await frame.locator('img[alt="remote"]').getAttribute('src')).toBeNull();
    await page.getByText('Images from remote senders are hidden.').waitFor();
  });

  it('sets a display name and a signature in Settings: compose inserts the signature and mail goes out under the name', async () => {
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByLabel('Display name', { exact: true }).fill('Ivy Inline');
    await page.getByLabel('Signature', { exact: true }).fill('Ivy\nInline Ltd.');
    await page.getByRole('button', { name: 'Save name and signature' }).click();
    await page.getByText('Saved.').waitFor();
    await page.getByLabel('Time to undo a sent message').selectOption('0');
    await page.getByRole('button', { name: '← Back to mail' }).click();

    await page.getByRole('button', { name: 'Compose', exact: true }).click();
    const window = page.getByRole('region', { name: 'New message' });
    const body = window.getByRole('textbox', { name: 'Message' });
    await expect.poll(() => body.innerText()).toContain('-- \nIvy\nInline Ltd.');
    await window.getByRole('combobox', { name: 'To' }).fill('ivy@inline.test');
    await window.getByRole('combobox', { name: 'To' }).press('Enter');
    await window.getByRole('textbox', { name: 'Subject' }).fill('Signed note');
    await page.getByRole('region', { name: 'Signed note' }).getByRole('button', { name: 'Send', exact: true }).click();

    const row = page.getByRole('option').filter({ hasText: 'Signed note' });
    await row.waitFor({ timeout: 30_000 });
    expect(await row.textContent()).toContain('Ivy Inline');
    await row.click();
    await page.frameLocator('iframe.mail-frame').getByText('Inline Ltd.').waitFor();
  });
});
