import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { createRateLimiter } from '../../core/src/auth/rate-limit.js';
import { createRedisEventPublisher } from '../../core/src/events/publisher.js';
import { sendMessage } from '../../core/src/mail/send.js';
import { createOutboundQueue, outboundJobId, type OutboundQueue } from '../../core/src/queue/queues.js';
import { createRedis } from '../../core/src/queue/redis.js';
import { createOutboundRepository } from '../../core/src/repositories/outbound.repository.js';
import type { TestStore } from '../helpers/store.js';
import { testSecrets } from '../helpers/secrets.js';
import { accessibilityProblems, SCREENSHOTS, startWebmailStack, type WebmailStack } from '../helpers/webmail-stack.js';

/**
 * The admin panel end to end in headless Chromium against the built backend (serving
 * frontend/dist) on a private store: an admin creates a user in the panel who then signs in; a
 * domain-admin sees only their own domain; "Retry now" on a deferred delivery makes it due and
 * wakes the outbound queue. Saves admin screenshots to docs/screenshots/.
 */

const screenshots = SCREENSHOTS;

let stack: WebmailStack;
let store: TestStore;
let redis: ReturnType<typeof createRedis>;
let queue: OutboundQueue;
let dataDir: string;
let base: string;
let browser: Browser;

beforeAll(async () => {
  stack = await startWebmailStack({
    hostname: 'mx.panel.test',
    services: ['backend'],
    setup: async (db) => {
      const accounts = createAccountsService({ db: db.db, secrets: testSecrets });
      await accounts.addDomain('panel.test');
      await accounts.addDomain('other.test');
      await accounts.addUser({ address: 'root@panel.test', password: 'root password 1', role: 'admin' });
      const boss = await accounts.addUser({ address: 'boss@panel.test', password: 'boss password 1', role: 'domain-admin' });
      const panelId = (await db.db.selectFrom('domains').select('id').where('name', '=', 'panel.test').executeTakeFirstOrThrow()).id;
      await db.db.insertInto('domain_admins').values({ user_id: boss.id, domain_id: panelId }).execute();
      await accounts.addUser({ address: 'sue@panel.test', password: 'sue password 1' });
      await accounts.addUser({ address: 'bob@other.test', password: 'bob password 1' });
    },
  });
  ({ store, base, browser, dataDir } = stack);
  redis = createRedis(stack.redisUrl, { maxRetriesPerRequest: null });
  queue = createOutboundQueue(redis);
});

afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
  await stack?.stop();
});


/** A fresh browser session signed in as `address`, on the mail screen. */
async function signIn(address: string, password: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(`${base}/`);
  await page.getByLabel('Email address').fill(address);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return page;
}

async function openAdmin(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Admin', exact: true }).click();
  await page.getByRole('heading', { name: 'Admin' }).waitFor();
  expect(new URL(page.url()).pathname).toBe('/admin');
}

const tab = (page: Page, name: string) => page.getByRole('tablist', { name: 'Admin areas' }).getByRole('tab', { name });

describe('the admin panel in Chromium', () => {
  it('lets an admin create a user in the panel, who then signs in', async () => {
    const page = await signIn('root@panel.test', 'root password 1');
    await openAdmin(page);
    await page.getByRole('region', { name: 'Totals' }).waitFor();

    await tab(page, 'Users').click();
    await page.getByRole('rowheader', { name: 'bob@other.test' }).waitFor();
    const form = page.getByRole('form', { name: 'New user' });
    await form.getByLabel('Address').fill('nina@panel.test');
    await form.getByLabel('Password').fill('nina password 1');
    await form.getByRole('button', { name: 'Create user' }).click();
    await page.getByText('Created nina@panel.test.').waitFor();
    await page.getByRole('rowheader', { name: 'nina@panel.test' }).waitFor();
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: path.join(screenshots, `admin-users-${scheme}.png`) });
      expect(await accessibilityProblems(page, `admin users ${scheme}`)).toEqual([]);
    }
    await page.context().close();

    const nina = await signIn('nina@panel.test', 'nina password 1');
    await nina.getByText('No messages in Inbox.').waitFor();
    // A plain user has no admin link, and the API refuses them.
    expect(await nina.getByRole('button', { name: 'Admin', exact: true }).count()).toBe(0);
    expect(await nina.evaluate(async () => (await fetch('/api/admin/users')).status)).toBe(403);
    await nina.context().close();
  });

  it("shows a domain-admin only their own domain's domains and users", async () => {
    const page = await signIn('boss@panel.test', 'boss password 1');
    await openAdmin(page);
    await page.getByText('Domain administrator').waitFor();
    await tab(page, 'Domains').click();
    await page.getByRole('rowheader', { name: 'panel.test' }).waitFor();
    expect(await page.getByRole('rowheader', { name: 'other.test' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Add domain' }).count()).toBe(0);

    await tab(page, 'Users').click();
    await page.getByRole('rowheader', { name: 'sue@panel.test' }).waitFor();
    expect(await page.getByRole('rowheader', { name: 'bob@other.test' }).count()).toBe(0);
    const roles = await page.getByRole('form', { name: 'New user' }).getByLabel('Role').locator('option').allTextContents();
    expect(roles).not.toContain('Administrator');
    await page.context().close();
  });

  it('retries a deferred delivery now from the outbound queue', async () => {
    const sue = await store.db.selectFrom('users').select('id').where('address', '=', 'sue@panel.test').executeTakeFirstOrThrow();
    const deps = { db: store.db, events: createRedisEventPublisher(redis), dataDir, limiter: createRateLimiter(redis), outbound: queue };
    const { outboundId } = await sendMessage(deps, { userId: sue.id, address: 'sue@panel.test', name: 'Sue' }, { to: ['far@far.test'], subject: 'Stuck report', text: 'x' });
    // The worker tried it once: greylisted, next attempt in an hour.
    const outbound = createOutboundRepository(store.db);
    const [claimed] = await outbound.claimDue(outboundId, 'far.test', 60_000);
    await outbound.recordOutcomes([{ deliveryId: claimed!.id, leaseToken: claimed!.leaseToken, status: 'deferred', reply: '451 4.7.1 greylisted, try later', remoteMta: 'mx.far.test', nextAttemptAt: new Date(Date.now() + 3_600_000) }]);

    const page = await signIn('root@panel.test', 'root password 1');
    await openAdmin(page);
    await tab(page, 'Outbound queue').click();
    const row = page.getByRole('row').filter({ hasText: 'far@far.test' });
    await row.getByText('451 4.7.1 greylisted, try later').waitFor();
    expect(await row.textContent()).toContain('sue@panel.test');
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: path.join(screenshots, `admin-queue-${scheme}.png`) });
      expect(await accessibilityProblems(page, `admin queue ${scheme}`)).toEqual([]);
    }
    await row.getByRole('button', { name: 'Retry now: far@far.test' }).click();
    await page.getByText('Retrying far@far.test now.').waitFor();

    const after = await store.db.selectFrom('deliveries').select(['status', 'next_attempt_at']).where('id', '=', claimed!.id).executeTakeFirstOrThrow();
    expect(after.status).toBe('deferred');
    expect(after.next_attempt_at.getTime()).toBeLessThanOrEqual(Date.now());
    expect(await (await queue.queue.getJob(outboundJobId({ outboundId, domain: 'far.test', attempt: 1 })))?.getState()).toBe('waiting');
    const audit = await store.db.selectFrom('audit_log').select(['action', 'actor_address']).where('action', '=', 'admin.outbound.retry').execute();
    expect(audit).toEqual([{ action: 'admin.outbound.retry', actor_address: 'root@panel.test' }]);

    await tab(page, 'Dashboard').click();
    const totals = page.getByRole('region', { name: 'Totals' });
    await expect.poll(() => totals.textContent()).toContain('Sent (24 h)1');
    expect(await totals.textContent()).toContain('Deferred1');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.screenshot({ path: path.join(screenshots, 'admin-dashboard-light.png') });
    expect(await accessibilityProblems(page, 'admin dashboard')).toEqual([]);
    await page.context().close();
  });
});
