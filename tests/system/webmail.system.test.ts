import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { createRateLimiter } from '../../core/src/auth/rate-limit.js';
import { base32Decode, hotp, totpStep } from '../../core/src/auth/totp.js';
import { createRedisEventPublisher } from '../../core/src/events/publisher.js';
import { sendMessage } from '../../core/src/mail/send.js';
import { createOutboundQueue } from '../../core/src/queue/queues.js';
import { createRedis } from '../../core/src/queue/redis.js';
import type { TestStore } from '../helpers/store.js';
import { testSecrets } from '../helpers/secrets.js';
import { accessibilityProblems, SCREENSHOTS, startWebmailStack, type WebmailStack } from '../helpers/webmail-stack.js';

/**
 * The webmail end to end in headless Chromium: the built backend (serving frontend/dist),
 * smtp-server and inbound-worker as processes on a private store. Sign in, see mail sent over
 * SMTP appear without a reload, read it, and render hostile HTML with no script running and
 * nothing reaching a listener the message points at. Saves screenshots to docs/screenshots/.
 */

const screenshots = SCREENSHOTS;

let stack: WebmailStack;
let store: TestStore;
let redisUrl: string;
let smtpPort: number;
let submissionPort: number;
let dataDir: string;
let base: string;
let browser: Browser;
let page: Page;
let danaId: number;
/** What the hostile message tries to reach. */
let listener: http.Server;
let listenerPort: number;
const listenerHits: string[] = [];

beforeAll(async () => {
  listener = http.createServer((req, res) => {
    listenerHits.push(`${req.method} ${req.url}`);
    res.end('ok');
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  listenerPort = (listener.address() as AddressInfo).port;
  stack = await startWebmailStack({
    hostname: 'mx.webmail.test',
    services: ['smtp-server', 'inbound-worker', 'backend'],
    setup: async (db) => {
      const accounts = createAccountsService({ db: db.db, secrets: testSecrets });
      await accounts.addDomain('webmail.test');
      danaId = (await accounts.addUser({ address: 'dana@webmail.test', password: 'dana password 1' })).id;
      await accounts.addUser({ address: 'finn@webmail.test', password: 'finn password 1' });
    },
  });
  ({ store, base, browser, dataDir, smtpPort, submissionPort } = stack);
  redisUrl = stack.redisUrl;
  // From a context of its own: axe-core runs in a page of the same context.
  page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
});

afterAll(async () => {
  await stack?.stop();
  await new Promise((resolve) => listener?.close(resolve));
});


async function send(mail: { subject: string; text: string; html?: string; messageId?: string; inReplyTo?: string; references?: string }): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, tls: { rejectUnauthorized: false } });
  try {
    const info = await transport.sendMail({ from: 'Erin Example <erin@remote.test>', to: 'dana@webmail.test', ...mail });
    expect(info.response).toMatch(/^250/);
  } finally {
    transport.close();
  }
}

/**
 * A screenshot of the screen in one theme, and what axe-core finds serious or critical on it (the
 * mail's own HTML, in its sandboxed frame, is the sender's and is left out).
 */
async function shoot(name: string, scheme: 'light' | 'dark'): Promise<void> {
  await page.emulateMedia({ colorScheme: scheme });
  await page.screenshot({ path: path.join(screenshots, `${name}-${scheme}.png`) });
  expect(await accessibilityProblems(page, `${name} ${scheme}`)).toEqual([]);
}

describe('the webmail in Chromium', () => {
  it('serves the app with its security headers and signs in', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");

    await page.goto(`${base}/`);
    await page.getByLabel('Email address').waitFor();
    await shoot('signin', 'dark');
    await shoot('signin', 'light');

    await page.getByLabel('Email address').fill('dana@webmail.test');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('do not match');

    await page.getByLabel('Password').fill('dana password 1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('No messages in Inbox.').waitFor();
    expect(await page.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(true);
  });

  it('shows mail sent over SMTP without a reload, counts it unread, and opens it', async () => {
    // A reload would drop this marker.
    await page.evaluate(() => Object.assign(globalThis, { loadedOnce: true }));
    await send({ subject: 'Lunch on Friday?', text: 'Shall we try the new place on Friday at noon?\n\nErin' });
    const row = page.getByRole('option').filter({ hasText: 'Lunch on Friday?' });
    await row.waitFor({ timeout: 30_000 });
    expect(await page.evaluate(() => (globalThis as { loadedOnce?: boolean }).loadedOnce)).toBe(true);
    expect(await row.getAttribute('class')).toContain('unread');
    expect(await row.textContent()).toContain('Erin Example');
    await expect.poll(() => page.title(), { timeout: 15_000 }).toBe('(1) Inbox — Mailyard');
    await shoot('inbox', 'dark');
    await shoot('inbox', 'light');

    await row.click();
    await page.locator('pre.text-body', { hasText: 'Shall we try the new place on Friday at noon?' }).waitFor();
    await expect.poll(async () => (await row.getAttribute('class')) ?? '').not.toContain('unread');
    await expect.poll(() => page.title(), { timeout: 15_000 }).toBe('Mailyard');
  });

  it('renders hostile HTML in the sandboxed frame with no script running and nothing reaching the listener', async () => {
    const target = `http://127.0.0.1:${listenerPort}`;
    const consoleLines: string[] = [];
    page.on('console', (m) => consoleLines.push(m.text()));
    await send({
      subject: 'Hostile newsletter',
      text: 'hostile',
      html: [
        '<p id="greeting">Hostile hello</p>',
        `<script>fetch('${target}/script');parent.postMessage('script ran','*')</script>`,
        `<img src="x" onerror="fetch('${target}/onerror')">`,
        `<img src="${target}/remote.png">`,
        `<a href="javascript:fetch('${target}/js-link')">click</a>`,
        `<svg onload="fetch('${target}/svg')"></svg>`,
        `<div style="background:url(${target}/css)">styled</div>`,
        `<iframe src="${target}/frame"></iframe><object data="${target}/object"></object>`,
        `<meta http-equiv="refresh" content="0;url=${target}/refresh">`,
      ].join('\n'),
    });
    const row = page.getByRole('option').filter({ hasText: 'Hostile newsletter' });
    await row.waitFor({ timeout: 30_000 });
    await row.click();

    const iframe = page.locator('iframe.mail-frame');
    await page.frameLocator('iframe.mail-frame').getByText('Hostile hello').waitFor();
    const sandbox = (await iframe.getAttribute('sandbox'))!.split(/\s+/);
    expect(sandbox).not.toContain('allow-scripts');
    expect(sandbox).not.toContain('allow-same-origin');
    expect(await iframe.getAttribute('srcdoc')).toContain("default-src 'none'");
    // Remote content is behind the bar, and the page itself is still the one we loaded.
    await page.getByText('Images from remote senders are hidden.').waitFor();
    expect(await page.evaluate(() => (globalThis as { loadedOnce?: boolean }).loadedOnce)).toBe(true);

    // The frame has rendered; the listener answers a request we make (so it would have counted
    // any from the page) and has had none from the message.
    const control = await fetch(`${target}/control`);
    expect(control.ok).toBe(true);
    expect(listenerHits).toEqual(['GET /control']);
    expect(consoleLines.filter((l) => l.includes('script ran'))).toEqual([]);
  });
});

/** The list rows, by subject. */
const row = (subject: string) => page.getByRole('option').filter({ hasText: subject });
const folder = (name: string) => page.getByRole('navigation', { name: 'Folders' }).getByRole('button', { name: new RegExp(`^${name}`) });

/** The server's view of the signed-in user's messages matching a query (what a reload would show). */
async function serverSearch(q: string): Promise<string[]> {
  return page.evaluate(async (query) => {
    const res = await fetch(`/api/search?q=${encodeURIComponent(query)}`);
    const body = (await res.json()) as { messages: Array<{ subject: string }> };
    return body.messages.map((m) => m.subject);
  }, q);
}

/** Takes the keyboard focus off any control, as a user clicking on the list's title would. */
async function focusPage(): Promise<void> {
  await page.locator('.list-pane .pane-title').click();
}

describe('the webmail: search, star, Trash and folders', () => {
  it('finds a message with the search box and its operators, and goes back to the folder', async () => {
    await send({ subject: 'Budget figures for spring', text: 'The rhubarb line went over by a little.' });
    await row('Budget figures for spring').waitFor({ timeout: 30_000 });
    await focusPage();
    await page.keyboard.press('/');
    const box = page.getByRole('searchbox', { name: 'Search mail' });
    await expect.poll(() => box.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await box.fill('from:erin rhubarb');
    await box.press('Enter');
    await page.getByRole('heading', { name: 'Search: from:erin rhubarb' }).waitFor();
    await row('Budget figures for spring').waitFor();
    expect(await row('Lunch on Friday?').count()).toBe(0);

    await page.getByRole('button', { name: 'Clear the search' }).click();
    await page.getByRole('heading', { name: 'Inbox' }).waitFor();
    await row('Lunch on Friday?').waitFor();
    await box.focus();
    await page.getByRole('list', { name: 'Recent searches' }).getByRole('button', { name: 'from:erin rhubarb' }).waitFor();
    await box.press('Escape');
    await expect.poll(() => box.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(false);
  });

  it('stars a selected message', async () => {
    await page.getByTitle('Select: Lunch on Friday?').click();
    const bar = page.getByRole('toolbar', { name: 'Selected messages' });
    await bar.getByText('1 selected').waitFor();
    await bar.getByRole('button', { name: 'Star', exact: true }).click();
    await row('Lunch on Friday?').getByLabel('Starred').waitFor();
    await expect.poll(() => serverSearch('is:starred')).toEqual(['Lunch on Friday?']);
    await bar.getByRole('button', { name: 'Clear the selection' }).click();
  });

  it('moves a message to Trash from the right-click menu and restores it', async () => {
    await row('Budget figures for spring').click({ button: 'right' });
    await page.getByRole('menu', { name: 'Message actions' }).getByRole('menuitem', { name: /^Delete/ }).click();
    await expect.poll(() => row('Budget figures for spring').count()).toBe(0);
    await expect.poll(() => serverSearch('in:trash')).toEqual(['Budget figures for spring']);

    await folder('Trash').click();
    await page.getByTitle('Select: Budget figures for spring').click();
    await page.getByRole('toolbar', { name: 'Selected messages' }).getByRole('button', { name: 'Restore to Inbox' }).click();
    await expect.poll(() => row('Budget figures for spring').count()).toBe(0);
    await folder('Inbox').click();
    await row('Budget figures for spring').waitFor();
    expect(await serverSearch('in:trash')).toEqual([]);
  });

  it('creates a folder and moves a message into it by dragging it there', async () => {
    await page.getByRole('button', { name: '+ New folder' }).click();
    await page.getByPlaceholder('Folder name').fill('Receipts');
    await page.getByRole('button', { name: 'Create' }).click();
    await folder('Receipts').waitFor();
    await shoot('folders', 'light');

    await row('Lunch on Friday?').dragTo(folder('Receipts'));
    await expect.poll(() => row('Lunch on Friday?').count()).toBe(0);
    await folder('Receipts').click();
    await page.getByRole('heading', { name: 'Receipts' }).waitFor();
    await row('Lunch on Friday?').waitFor();
    expect(await serverSearch('in:receipts')).toEqual(['Lunch on Friday?']);
  });
});

describe('the webmail: keyboard', () => {
  it('goes to the Inbox with g i, moves with j/k, opens with o, archives with e and deletes with #', async () => {
    await send({ subject: 'Keys one', text: 'first' });
    await send({ subject: 'Keys two', text: 'second' });
    await focusPage();
    await page.keyboard.press('g');
    await page.keyboard.press('i');
    await page.getByRole('heading', { name: 'Inbox' }).waitFor();
    await row('Keys two').waitFor({ timeout: 30_000 });
    await row('Keys one').waitFor({ timeout: 30_000 });
    const subjects = async () => page.getByRole('option').locator('.subject').allTextContents();
    expect((await subjects()).slice(0, 2)).toEqual(['Keys two', 'Keys one']);

    await page.keyboard.press('j');
    await expect.poll(async () => (await row('Keys one').getAttribute('class')) ?? '').toContain('focused');
    await page.keyboard.press('k');
    await expect.poll(async () => (await row('Keys two').getAttribute('class')) ?? '').toContain('focused');
    await page.keyboard.press('o');
    await page.locator('pre.text-body', { hasText: 'second' }).waitFor();

    await page.keyboard.press('e');
    await expect.poll(() => row('Keys two').count()).toBe(0);
    // The reader moved on to the next message.
    await page.locator('pre.text-body', { hasText: 'first' }).waitFor();
    await expect.poll(() => serverSearch('in:archive')).toEqual(['Keys two']);

    await page.keyboard.press('#');
    await expect.poll(() => row('Keys one').count()).toBe(0);
    await expect.poll(() => serverSearch('in:trash')).toEqual(['Keys one']);

    await page.keyboard.press('?');
    const overlay = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await overlay.getByText('Archive', { exact: true }).waitFor();
    await shoot('shortcuts', 'dark');
    await page.keyboard.press('Escape');
    await expect.poll(() => overlay.count()).toBe(0);
  });
});

describe('the webmail: sent mail', () => {
  it('shows each recipient of a sent message delivered, for a local recipient', async () => {
    const redis = createRedis(redisUrl, { maxRetriesPerRequest: null });
    try {
      const deps = { db: store.db, events: createRedisEventPublisher(redis), dataDir, limiter: createRateLimiter(redis), outbound: createOutboundQueue(redis) };
      await sendMessage(deps, { userId: danaId, address: 'dana@webmail.test', name: 'Dana' }, { to: ['Finn <finn@webmail.test>'], subject: 'Minutes of Monday', text: 'Attached are the minutes.' });
    } finally {
      redis.disconnect();
    }
    await folder('Sent').click();
    await row('Minutes of Monday').click({ timeout: 30_000 });
    const delivery = page.getByRole('region', { name: 'Delivery' });
    const finn = delivery.getByRole('listitem').filter({ hasText: 'finn@webmail.test' });
    await finn.waitFor();
    expect(await finn.getAttribute('data-status')).toBe('delivered');
    expect(await finn.textContent()).toContain('delivered');
    await shoot('sent', 'light');
    await shoot('sent', 'dark');
  });
});

describe('the webmail: conversations and settings', () => {
  it('shows a reply in the same thread as one conversation row with count 2, and both messages in the reader', async () => {
    await folder('Inbox').click();
    await send({ subject: 'Trip to the coast', text: 'Shall we take the early train?', messageId: '<trip-1@remote.test>' });
    await row('Trip to the coast').waitFor({ timeout: 30_000 });
    await send({ subject: 'Re: Trip to the coast', text: 'Or the one at nine, with breakfast first.', inReplyTo: '<trip-1@remote.test>', references: '<trip-1@remote.test>' });
    const conversation = row('Re: Trip to the coast');
    await conversation.getByLabel('2 messages').waitFor({ timeout: 30_000 });
    expect(await row('Trip to the coast').count()).toBe(1);
    expect(await conversation.getAttribute('class')).toContain('unread');

    await conversation.click();
    const thread = page.getByRole('region', { name: 'Conversation: Re: Trip to the coast' });
    await thread.locator('pre.text-body', { hasText: 'Or the one at nine' }).waitFor();
    const earlier = thread.getByRole('button', { expanded: false, name: /Shall we take the early train/ });
    expect(await earlier.textContent()).toContain('Shall we take the early train?');
    await earlier.click();
    await thread.locator('pre.text-body', { hasText: 'Shall we take the early train?' }).waitFor();
    await expect.poll(async () => (await conversation.getAttribute('class')) ?? '').not.toContain('unread');
    await expect.poll(() => serverSearch('is:unread subject:trip')).toEqual([]);
    await shoot('conversation', 'light');

    // Single messages: the two rows again, and the choice survives a reload.
    await page.getByRole('button', { name: 'Conversations' }).click();
    await row('Re: Trip to the coast').waitFor();
    await expect.poll(() => row('Trip to the coast').count()).toBe(2);
    await page.reload();
    await expect.poll(() => row('Trip to the coast').count(), { timeout: 15_000 }).toBe(2);
    await page.getByRole('button', { name: 'Conversations' }).click();
    await expect.poll(() => row('Trip to the coast').count()).toBe(1);
  });

  it('creates an app password in Settings that signs in to SMTP submission', async () => {
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/settings');
    await page.getByLabel('Name for the app').fill('Thunderbird');
    await page.getByLabel('Your password').fill('dana password 1');
    await page.getByRole('button', { name: 'Create app password' }).click();
    const secret = (await page.getByLabel('New app password').textContent())!;
    expect(secret.length).toBeGreaterThan(10);
    await page.getByRole('table').getByRole('cell', { name: 'Thunderbird', exact: true }).waitFor();

    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: submissionPort,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: 'dana@webmail.test', pass: secret },
    });
    try {
      expect(await transport.verify()).toBe(true);
    } finally {
      transport.close();
    }
  });

  it('turns on two-step sign-in with a QR code, then signs in with the password and a code, and turns it off', async () => {
    await page.getByRole('region', { name: 'Two-step sign-in' }).getByLabel('Password').fill('dana password 1');
    await page.getByRole('button', { name: 'Set up two-step sign-in' }).click();
    const key = base32Decode((await page.getByLabel('Secret key').textContent())!);
    const qr = page.getByAltText('QR code for your authenticator app');
    await expect.poll(() => qr.evaluate((element) => {
        const img = element as unknown as { complete: boolean; naturalWidth: number };
        return img.complete && img.naturalWidth > 0;
      })).toBe(true);
    await shoot('settings', 'light');
    await shoot('settings', 'dark');

    // Each code is accepted once, and only a later one after it: enable, sign in and turn off use three steps.
    const step = totpStep(Date.now());
    await page.getByLabel('6-digit code from the app').fill(hotp(key, step));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByText('Two-step sign-in is on.').first().waitFor();

    await page.getByRole('button', { name: '← Back to mail' }).click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Email address').fill('dana@webmail.test');
    await page.getByLabel('Password').fill('dana password 1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    await page.getByLabel('The 6-digit code from your authenticator app').fill(hotp(key, step + 1));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await page.evaluate(async () => (await fetch('/api/account/totp')).json())).toEqual({ enabled: true, pendingSetup: false });

    // The code for step + 2 is inside the server's window once the clock has reached step + 1.
    await expect.poll(() => totpStep(Date.now()), { timeout: 45_000, interval: 500 }).toBeGreaterThanOrEqual(step + 1);
    await page.getByRole('button', { name: 'Settings' }).click();
    const totpSection = page.getByRole('region', { name: 'Two-step sign-in' });
    await totpSection.getByLabel('Password').fill('dana password 1');
    await totpSection.getByLabel('6-digit code from the app').fill(hotp(key, step + 2));
    await totpSection.getByRole('button', { name: 'Turn off' }).click();
    await page.getByText('Two-step sign-in is off.').waitFor();
    await page.getByRole('button', { name: '← Back to mail' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  });
});

describe('the webmail: export and import', () => {
  it('downloads all mail as one mbox from Settings, and imports an mbox there into its folder', async () => {
    await page.getByRole('button', { name: 'Settings' }).click();
    const link = page.getByRole('link', { name: 'Download all mail (.mbox)' });
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    expect(download.suggestedFilename()).toBe('mail-dana@webmail.test.mbox');
    const mbox = fs.readFileSync(await download.path(), 'utf8');
    expect(mbox).toMatch(/^From \S+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n/);
    expect(mbox).toContain('Subject: Lunch on Friday?');

    const postcards = path.join(dataDir, 'postcards.mbox');
    fs.writeFileSync(postcards, 'From gran@far.test Sat Dec  5 10:00:00 2026\nX-Mailyard-Folder: Postcards\nStatus: O\nFrom: Gran <gran@far.test>\nSubject: Greetings from the lake\nMessage-ID: <lake@far.test>\n\nWish you were here.\n\n');
    await page.getByLabel('Mbox file').setInputFiles(postcards);
    await page.getByRole('button', { name: 'Import mail' }).click();
    await page.getByRole('status').filter({ hasText: 'Imported 1 message.' }).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: '← Back to mail' }).click();
    await folder('Postcards').click({ timeout: 30_000 });
    await row('Greetings from the lake').waitFor({ timeout: 30_000 });
  });
});

describe('the webmail on a phone-sized screen', () => {
  it('keeps the header on the screen with a usable search box, and shows one pane at a time', async () => {
    await send({ subject: 'Seen on a phone', text: 'This one is read on a small screen.' });
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    try {
      await phone.goto(`${base}/`);
      await phone.getByLabel('Email address').fill('dana@webmail.test');
      await phone.getByLabel('Password').fill('dana password 1');
      await phone.getByRole('button', { name: 'Sign in' }).click();
      const signOut = phone.getByRole('button', { name: 'Sign out' });
      await signOut.waitFor();

      // Every header control fits inside the screen, on one line (a wrapped label doubles the height).
      const search = (await phone.getByRole('searchbox', { name: 'Search mail' }).boundingBox())!;
      expect(search.width).toBeGreaterThan(250);
      for (const name of ['Settings', 'Sign out', 'Folders']) {
        const box = (await phone.getByRole('button', { name, exact: true }).boundingBox())!;
        expect(box.x, name).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width, name).toBeLessThanOrEqual(390);
        expect(box.height, name).toBeLessThan(60);
      }

      // One pane at a time: the list, then the reader alone, then back to the list.
      const row = phone.getByRole('option').filter({ hasText: 'Seen on a phone' });
      await row.waitFor({ timeout: 30_000 });
      for (const scheme of ['light', 'dark'] as const) {
        await phone.emulateMedia({ colorScheme: scheme });
        await phone.screenshot({ path: path.join(screenshots, `phone-inbox-${scheme}.png`) });
      }
      await row.click();
      await phone.locator('pre.text-body', { hasText: 'This one is read on a small screen.' }).waitFor();
      expect(await row.isVisible()).toBe(false);
      for (const scheme of ['light', 'dark'] as const) {
        await phone.emulateMedia({ colorScheme: scheme });
        await phone.screenshot({ path: path.join(screenshots, `phone-reader-${scheme}.png`) });
      }
      await phone.locator('.reader-toolbar .back').click();
      await row.waitFor();
    } finally {
      await phone.close();
    }
  });
});
