import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from '../../core/src/local/process-utils.js';
import { allocateRedisUrl } from './redis.js';
import { TEST_SECRET_KEY } from './secrets.js';
import { eventually, repoRoot, spawnService, waitForSmtpGreeting, type ServiceProcess } from './services.js';
import { createTestStore, type TestStore } from './store.js';

/**
 * What the webmail's Chromium system tests stand on: a fresh database (accounts made by `setup`
 * before anything starts), a Redis database, the built services as processes from `dist` with the
 * environment compose gives them (loopback, free ports), and Debian's Chromium headless.
 * `stop()` closes all of it.
 */

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Where the README's screenshots are written. */
export const SCREENSHOTS = path.join(repoRoot, 'docs', 'screenshots');

/**
 * What axe-core finds serious or critical on the page (within `include` when given), as
 * "<label>: <rule> <targets>" lines: a test expects none. The mail's own HTML, in its sandboxed
 * frame, is the sender's and is left out. The page must come from a `browser.newContext()`.
 */
export async function accessibilityProblems(page: Page, label: string, include?: string): Promise<string[]> {
  const builder = new AxeBuilder({ page }).exclude('iframe');
  const { violations } = await (include ? builder.include(include) : builder).analyze();
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${label}: ${v.id} ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

type Service = 'smtp-server' | 'inbound-worker' | 'outbound-worker' | 'backend';

export interface WebmailStackOptions {
  /** MAIL_HOSTNAME, e.g. `mx.junk.test`. */
  hostname: string;
  services: readonly Service[];
  /** More environment for every service (DNS_SERVERS…). */
  env?: Record<string, string>;
  /** Runs on the store before the services start (domains, users). */
  setup?: (store: TestStore) => Promise<void>;
}

export interface WebmailStack {
  store: TestStore;
  redisUrl: string;
  dataDir: string;
  /** The backend's HTTP origin. */
  base: string;
  /** The MX and submission ports (0 unless the smtp-server runs). */
  smtpPort: number;
  submissionPort: number;
  services: ServiceProcess[];
  browser: Browser;
  stop(): Promise<void>;
}

export async function startWebmailStack(options: WebmailStackOptions): Promise<WebmailStack> {
  if (!fs.existsSync(path.join(repoRoot, 'frontend', 'dist', 'index.html'))) throw new Error('frontend/dist is missing: run `npm run build` first');
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const store = await createTestStore();
  const redis = await allocateRedisUrl();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-webmail-'));
  const services: ServiceProcess[] = [];
  let browser: Browser | undefined;
  const stop = async () => {
    await browser?.close();
    await Promise.all(services.map((s) => s.stop()));
    await redis.flush();
    await store.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await options.setup?.(store);
    const withSmtp = options.services.includes('smtp-server');
    const [httpPort, smtpPort, submissionPort] = [await freePort(), withSmtp ? await freePort() : 0, withSmtp ? await freePort() : 0];
    const env = {
      DATABASE_URL: store.url,
      REDIS_URL: redis.url,
      DATA_DIR: dataDir,
      SECRET_KEY: TEST_SECRET_KEY,
      MAIL_HOSTNAME: options.hostname,
      BIND_ADDRESS: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...(withSmtp ? { SMTP_PORT: String(smtpPort), SUBMISSION_PORT: String(submissionPort), SMTPS_PORT: '0' } : {}),
      HTTP_PORT: String(httpPort),
      HTTPS_PORT: '0',
      ...options.env,
    };
    for (const name of options.services) services.push(spawnService(name, env));
    const base = `http://127.0.0.1:${httpPort}`;
    if (withSmtp) await waitForSmtpGreeting(smtpPort);
    await eventually(async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok, { timeoutMs: 30_000, describe: () => services.map((s) => s.output()).join('\n') });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    return { store, redisUrl: redis.url, dataDir, base, smtpPort, submissionPort, services, browser, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
