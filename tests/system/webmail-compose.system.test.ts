import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import type { TestStore } from '../helpers/store.js';
import { testSecrets } from '../helpers/secrets.js';
import { accessibilityProblems, SCREENSHOTS, startWebmailStack, type WebmailStack } from '../helpers/webmail-stack.js';

/**
 * Compose end to end in headless Chromium: the built backend (serving frontend/dist), the
 * outbound worker (which sends held messages when their undo time is over) and the inbound worker
 * as processes on a private store. Gil writes to Hana with the rich-text editor and an
 * attachment; it shows in his Sent and, live, in her inbox, where she downloads the file and
 * replies; an undone send never arrives and its window comes back.
 */

const screenshots = SCREENSHOTS;

let stack: WebmailStack;
let store: TestStore;
let base: string;
let browser: Browser;
let gil: Page;
let hana: Page;
let gilId: number;
let hanaId: number;

async function signIn(page: Page, address: string, password: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('Email address').fill(address);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

const folder = (page: Page, name: string) => page.getByRole('navigation', { name: 'Folders' }).getByRole('button', { name: new RegExp(`^${name}`) });
const row = (page: Page, subject: string) => page.getByRole('option').filter({ hasText: subject });

/** Opens a new message to Hana with this subject and text (by click, or by tap on a touch screen); returns its window, named by the subject. */
async function writeToHana(page: Page, subject: string, text: string, press: 'click' | 'tap' = 'click'): Promise<Locator> {
  await page.getByRole('button', { name: 'Compose', exact: true })[press]();
  const window = page.getByRole('region', { name: 'New message' });
  await window.getByRole('combobox', { name: 'To' }).fill('hana@compose.test');
  await window.getByRole('combobox', { name: 'To' }).press('Enter');
  await window.getByRole('textbox', { name: 'Subject' }).fill(subject);
  const compose = page.getByRole('region', { name: subject });
  await compose.getByRole('textbox', { name: 'Message' })[press]();
  await page.keyboard.type(text);
  return compose;
}

async function setUndoDelay(userId: number, seconds: number): Promise<void> {
  await sql`UPDATE users SET undo_send_seconds = ${seconds} WHERE id = ${userId}`.execute(store.db);
}

async function subjects(userId: number): Promise<string[]> {
  const rows = await store.db.selectFrom('messages').select('subject').where('user_id', '=', userId).execute();
  return rows.map((r) => r.subject);
}

beforeAll(async () => {
  stack = await startWebmailStack({
    hostname: 'mx.compose.test',
    services: ['inbound-worker', 'outbound-worker', 'backend'],
    setup: async (db) => {
      const accounts = createAccountsService({ db: db.db, secrets: testSecrets });
      await accounts.addDomain('compose.test');
      gilId = (await accounts.addUser({ address: 'gil@compose.test', password: 'gil password 1' })).id;
      hanaId = (await accounts.addUser({ address: 'hana@compose.test', password: 'hana password 1' })).id;
    },
  });
  ({ store, base, browser } = stack);
  gil = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  hana = await (await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 800 } })).newPage();
  await signIn(gil, 'gil@compose.test', 'gil password 1');
  await signIn(hana, 'hana@compose.test', 'hana password 1');
});

afterAll(() => stack?.stop());


describe('composing in the webmail', () => {
  it('writes and sends a message with an attachment: it shows in Sent and in the other user’s inbox, where the file downloads', async () => {
    await setUndoDelay(gilId, 2);
    await gil.keyboard.press('c');
    const window = gil.getByRole('region', { name: 'New message' });
    await window.getByRole('combobox', { name: 'To' }).fill('hana@compose.test');
    await window.getByRole('combobox', { name: 'To' }).press('Enter');
    await window.getByRole('textbox', { name: 'Subject' }).fill('Trip notes');
    const editor = gil.getByRole('region', { name: 'Trip notes' }).getByRole('textbox', { name: 'Message' });
    await editor.click();
    await gil.keyboard.type('Here are the ');
    await gil.keyboard.press('Control+b');
    await gil.keyboard.type('notes');
    const compose = gil.getByRole('region', { name: 'Trip notes' });
    await compose.getByLabel('Attach files').setInputFiles({ name: 'itinerary.txt', mimeType: 'text/plain', buffer: Buffer.from('Day 1: the lake\nDay 2: the hills\n') });
    await compose.getByText('itinerary.txt').waitFor();
    await expect.poll(() => compose.getByLabel('Uploading itinerary.txt').count()).toBe(0);
    for (const scheme of ['dark', 'light'] as const) {
      await gil.emulateMedia({ colorScheme: scheme });
      await gil.screenshot({ path: path.join(screenshots, `compose-${scheme}.png`) });
      expect(await accessibilityProblems(gil, `compose ${scheme}`)).toEqual([]);
    }
    await compose.getByRole('button', { name: 'Send', exact: true }).click();
    await gil.getByText(/Sending…/).waitFor();
    await gil.getByRole('status').filter({ hasText: 'Sent' }).waitFor({ timeout: 20_000 });

    await folder(gil, 'Sent').click();
    await row(gil, 'Trip notes').waitFor({ timeout: 20_000 });

    await row(hana, 'Trip notes').waitFor({ timeout: 20_000 });
    await row(hana, 'Trip notes').click();
    const link = hana.getByRole('link', { name: 'itinerary.txt' });
    await link.waitFor();
    const [download] = await Promise.all([hana.waitForEvent('download'), link.click()]);
    const file = await download.path();
    expect(fs.readFileSync(file, 'utf8')).toBe('Day 1: the lake\nDay 2: the hills\n');
    // The HTML part carries the formatting, the text part the words.
    const raw = await hana.evaluate(async (subject) => {
      const list = (await (await fetch('/api/search?q=' + encodeURIComponent(`subject:"${subject}"`))).json()) as { messages: Array<{ id: number }> };
      return (await fetch(`/api/messages/${list.messages[0]!.id}/raw`)).text();
    }, 'Trip notes');
    expect(raw).toMatch(/<strong>notes<\/strong>/);
    expect(raw).toMatch(/Content-Type: text\/plain[\s\S]*Here are the notes/);
  });

  it('replies to the open message with the r key; the reply reaches the sender', async () => {
    await setUndoDelay(hanaId, 0);
    await hana.keyboard.press('r');
    const reply = hana.getByRole('region', { name: 'Re: Trip notes' });
    await reply.waitFor();
    expect(await reply.getByRole('list', { name: 'To recipients' }).textContent()).toContain('gil@compose.test');
    await reply.getByRole('textbox', { name: 'Message' }).click();
    await hana.keyboard.type('Looks great, see you there.');
    await reply.getByRole('button', { name: 'Send', exact: true }).click();
    await hana.getByRole('status').filter({ hasText: 'Sent' }).waitFor({ timeout: 20_000 });
    await folder(gil, 'Inbox').click();
    await row(gil, 'Re: Trip notes').waitFor({ timeout: 20_000 });
  });

  it('undoes a send: nothing arrives and the compose window comes back with what was written', async () => {
    await setUndoDelay(gilId, 30);
    const compose = await writeToHana(gil, 'Never mind', 'I wrote this too soon.');
    await compose.getByRole('button', { name: 'Send', exact: true }).click();
    await compose.waitFor({ state: 'detached' });
    await gil.getByRole('button', { name: 'Undo', exact: true }).click();

    const back = gil.getByRole('region', { name: 'Never mind' });
    await back.waitFor();
    expect(await back.getByRole('textbox', { name: 'Message' }).textContent()).toContain('I wrote this too soon.');
    expect(await back.getByRole('list', { name: 'To recipients' }).textContent()).toContain('hana@compose.test');
    const held = await store.db.selectFrom('scheduled_sends').select('status').where('user_id', '=', gilId).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(held.status).toBe('cancelled');
    expect(await subjects(hanaId)).not.toContain('Never mind');
  });
  it('schedules a message for tomorrow, lists it under Scheduled, and cancels it back into a compose window', async () => {
    // The window given back by the undo test above stays open beside this one.
    const compose = await writeToHana(gil, 'See you next week', 'Written today, sent tomorrow.');
    await compose.getByRole('button', { name: 'Send later…' }).click();
    const tomorrow = new Date(Date.now() + 24 * 3600_000);
    const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await compose.getByLabel('Send at').fill(local);
    await compose.getByRole('button', { name: 'Schedule', exact: true }).click();
    await compose.waitFor({ state: 'detached' });

    await gil.getByRole('button', { name: 'Scheduled', exact: true }).click();
    const item = gil.getByRole('list', { name: 'Scheduled messages' }).getByRole('listitem').filter({ hasText: 'See you next week' });
    await item.waitFor();
    expect(await item.textContent()).toContain('To: hana@compose.test');
    await item.getByRole('button', { name: 'Cancel and edit' }).click();

    const reopened = gil.getByRole('region', { name: 'See you next week' });
    await reopened.waitFor();
    expect(await reopened.getByRole('textbox', { name: 'Message' }).textContent()).toContain('Written today, sent tomorrow.');
    await gil.getByText(/No scheduled messages/).waitFor();
    const held = await store.db.selectFrom('scheduled_sends').select('status').where('user_id', '=', gilId).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(held.status).toBe('cancelled');
    expect(await subjects(hanaId)).not.toContain('See you next week');
  });

  it('composes on a phone: the window takes the whole screen, its controls fit, and it reads well in both themes', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const phone = await context.newPage();
    try {
      await signIn(phone, 'gil@compose.test', 'gil password 1');
      const compose = await writeToHana(phone, 'From the train', 'Typed on a small screen.', 'tap');

      // The window is the screen (not a desktop window pushed off its edge), and what a phone user taps is inside it.
      expect(await compose.boundingBox()).toEqual({ x: 0, y: 0, width: 390, height: 844 });
      for (const control of [compose.getByRole('button', { name: 'Send', exact: true }), compose.getByRole('button', { name: 'Discard' }), compose.getByRole('button', { name: 'Save and close' }), compose.getByRole('textbox', { name: 'Subject' })]) {
        const box = (await control.boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(390);
        expect(box.y + box.height).toBeLessThanOrEqual(844);
      }
      // The message takes the height between the fields and the buttons, which sit at the foot of the screen.
      const send = (await compose.getByRole('button', { name: 'Send', exact: true }).boundingBox())!;
      const body = (await compose.getByRole('textbox', { name: 'Message' }).boundingBox())!;
      expect(send.y + send.height).toBeGreaterThan(844 - 150);
      expect(body.y + body.height).toBeGreaterThan(send.y - 40);
      for (const scheme of ['light', 'dark'] as const) {
        await phone.emulateMedia({ colorScheme: scheme });
        await phone.screenshot({ path: path.join(screenshots, `phone-compose-${scheme}.png`) });
        expect(await accessibilityProblems(phone, `phone compose ${scheme}`)).toEqual([]);
      }
      await compose.getByRole('button', { name: 'Discard' }).tap();
      await compose.waitFor({ state: 'detached' });
    } finally {
      await context.close();
    }
  });
});
