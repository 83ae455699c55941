import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFaultRun, figuresLine, type FaultFigures } from '../helpers/fault-check.js';
import { newApiBook, newSmtpBook, runApiLoad, runSmtpLoad, signInAll, type LoadPlan } from '../helpers/fault-load.js';
import { APP_SERVICES, startFaultStack, type FaultStack } from '../helpers/fault-stack.js';
import { eventually, repoRoot } from '../helpers/services.js';

/**
 * Faults under load, with real processes (issue #12, "Proof"): the services run apart as compose
 * runs them, on a private PostgreSQL with fsync on and a private Redis. Under a load of MX mail
 * over several connections to 20+ users, and sends through the API to local users and a remote
 * Postfix, each fault in turn: SIGKILL of smtp-server, the inbound worker, the outbound worker (mail
 * in flight to the remote), the backend (during API sends); a Redis restart; SIGKILL and restart of
 * PostgreSQL; PostgreSQL paused for 10 s. After each: every message answered 250 (202) is stored
 * exactly once, every refusal was temporary, nothing is left in the spool or the outbound queue,
 * and no process exited that was not killed.
 *
 * `npm test` runs a small load (FAULTS_MESSAGES, default 600 per fault); `npm run bench:faults`
 * runs this file with a larger one and FAULTS_RESULTS set, and writes the figures table.
 */

const intEnv = (name: string, fallback: number) => {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
};

const USERS = intEnv('FAULTS_USERS', 20);
const PLAN = {
  messages: intEnv('FAULTS_MESSAGES', 600),
  connections: intEnv('FAULTS_CONNECTIONS', 12),
  apiSends: intEnv('FAULTS_API_SENDS', 40),
  apiConcurrency: 2,
  deadlineMs: intEnv('FAULTS_LOAD_DEADLINE_MS', 120_000),
};
const DRAIN_MS = 90_000;
const SCENARIO_MS = PLAN.deadlineMs + DRAIN_MS + 60_000;
const PAUSE_MS = 10_000;

let stack: FaultStack;
let sessions: Map<number, Record<string, string>>;
const results: FaultFigures[] = [];

beforeAll(async () => {
  for (const name of APP_SERVICES) {
    if (!fs.existsSync(path.join(repoRoot, name, 'dist', 'main.js'))) throw new Error(`${name}/dist/main.js is missing: run \`npm run build\` first`);
  }
  stack = await startFaultStack({ users: USERS });
  sessions = await signInAll(stack);
}, 400_000);

afterAll(async () => {
  await stack?.stop();
  if (results.length > 0) console.log(`\nFault runs (${PLAN.messages} MX messages over ${PLAN.connections} connections and ${PLAN.apiSends} API sends per fault, ${USERS} users):\n${results.map(figuresLine).join('\n')}`);
  if (process.env.FAULTS_RESULTS) fs.writeFileSync(process.env.FAULTS_RESULTS, JSON.stringify({ plan: { ...PLAN, users: USERS }, results }, null, 2) + '\n');
}, 120_000);

/** When to strike: once part of the MX load was accepted, or of the API sends, or while outbound mail is being delivered. */
type Trigger = 'smtp' | 'api' | 'outbound-in-flight';

async function inFlightDeliveries(): Promise<number> {
  const [row] = await stack.query<{ n: string }>("SELECT count(*) AS n FROM deliveries WHERE status IN ('queued', 'deferred') AND locked_until > now()");
  return Number(row!.n);
}

/** Runs the load, strikes once the trigger is met, checks the books; returns the figures and what the trigger saw. */
async function underLoad(fault: string, tag: string, trigger: Trigger, strike: () => Promise<void>): Promise<{ figures: FaultFigures; seen: number }> {
  const smtp = newSmtpBook();
  const api = newApiBook();
  const plan: LoadPlan = { tag, ...PLAN };
  const startedAt = Date.now();
  let seen = 0;
  const struck = (async () => {
    await eventually(
      async () => {
        if (trigger === 'smtp') return smtp.accepted >= PLAN.messages * 0.3;
        if (trigger === 'api') return api.accepted >= PLAN.apiSends * 0.3;
        seen = await inFlightDeliveries();
        return seen > 0;
      },
      { timeoutMs: PLAN.deadlineMs, intervalMs: trigger === 'outbound-in-flight' ? 10 : 50, describe: () => `trigger ${trigger} never met (SMTP accepted ${smtp.accepted}, API accepted ${api.accepted})` },
    );
    if (trigger === 'smtp') seen = smtp.accepted;
    if (trigger === 'api') seen = api.accepted;
    await strike();
  })();
  await Promise.all([runSmtpLoad(stack, plan, smtp), runApiLoad(stack, sessions, plan, api), struck]);
  const figures = await checkFaultRun(stack, fault, tag, PLAN, smtp, api, { startedAt, loadEndedAt: Date.now() }, DRAIN_MS);
  results.push(figures);
  console.log(figuresLine(figures));
  return { figures, seen };
}

/** What every fault run must show. */
function expectHeld(f: FaultFigures): void {
  expect(f.processes.unexpectedExits, 'a process exited that the fault did not kill').toEqual([]);
  expect(stack.postgres.alive() && stack.redis.alive(), 'PostgreSQL and Redis are running').toBe(true);
  expect(f.smtp.refusedPermanently, 'every refusal was temporary (4xx)').toBe(0);
  expect(f.smtp.accepted, 'every MX message was accepted in the end').toBe(f.smtp.sent);
  expect({ lost: f.smtp.lost, duplicated: f.smtp.duplicated, misfiled: f.smtp.misfiled }).toEqual({ lost: 0, duplicated: 0, misfiled: 0 });
  expect(f.smtp.stored).toBe(f.smtp.accepted);
  expect(f.api.accepted + f.api.unanswered, 'every API send was answered 202 in the end, or got no answer at all').toBe(PLAN.apiSends);
  expect({ lost: f.api.lost, duplicated: f.api.duplicated }).toEqual({ lost: 0, duplicated: 0 });
  expect(f.api.stored).toBe(f.api.accepted);
  for (const code of Object.keys(f.api.errorResponses)) expect(['429', '500', '502', '503', '504'], `API answered ${code} during the fault`).toContain(code);
  expect(f.stuck, 'nothing left in the spool or the outbound queue').toEqual({ spoolPending: 0, spoolFailed: 0, outboundPending: 0, outboundFailed: 0 });
}

describe('faults under load, with the services run apart', () => {
  it('SIGKILL smtp-server (restarted): nothing answered 250 is lost or doubled; senders saw only dropped connections or 4xx', async () => {
    const { figures } = await underLoad('SIGKILL smtp-server', 'f1', 'smtp', () => stack.killAndRestart('smtp-server'));
    expectHeld(figures);
    expect(figures.smtp.connectionErrors, 'the kill dropped the open connections').toBeGreaterThan(0);
  }, SCENARIO_MS);

  it('SIGKILL the inbound worker mid-filing (restarted): every spooled message is filed exactly once', async () => {
    const { figures } = await underLoad('SIGKILL inbound-worker', 'f2', 'smtp', async () => {
      const [row] = await stack.query<{ n: string }>("SELECT count(*) AS n FROM spool WHERE status = 'pending'");
      expect(Number(row!.n), 'the worker had spooled mail to file when killed').toBeGreaterThan(0);
      await stack.killAndRestart('inbound-worker');
    });
    expectHeld(figures);
  }, SCENARIO_MS);

  it('SIGKILL the outbound worker with mail in flight to the remote MTA (restarted): each message reaches the remote exactly once', async () => {
    const { figures, seen } = await underLoad('SIGKILL outbound-worker', 'f3', 'outbound-in-flight', () => stack.killAndRestart('outbound-worker'));
    expect(seen, 'deliveries were leased (in flight) when the worker was killed').toBeGreaterThan(0);
    expectHeld(figures);
  }, SCENARIO_MS);

  it('SIGKILL the backend during API sends (restarted): a send that got no answer, sent again with its Idempotency-Key, is stored once', async () => {
    const { figures } = await underLoad('SIGKILL backend', 'f4', 'api', () => stack.killAndRestart('backend'));
    expectHeld(figures);
    expect(figures.api.unanswered, 'every send left without an answer was accepted when sent again').toBe(0);
  }, SCENARIO_MS);

  it('restart Redis: no message lost, doubled or stuck', async () => {
    const { figures } = await underLoad('restart Redis', 'f5', 'smtp', () => stack.restartRedis());
    expectHeld(figures);
  }, SCENARIO_MS);

  it('SIGKILL and restart PostgreSQL (fsync on): every message answered 250 survives the crash, once', async () => {
    const { figures } = await underLoad('SIGKILL PostgreSQL', 'f6', 'smtp', () => stack.killAndRestartPostgres());
    expectHeld(figures);
    expect(figures.smtp.refusedTemporarily + figures.smtp.connectionErrors, 'senders noticed the outage').toBeGreaterThan(0);
  }, SCENARIO_MS);

  it('pause PostgreSQL for 10 s: senders wait or get 4xx, nothing is lost or doubled', async () => {
    const { figures } = await underLoad('pause PostgreSQL 10 s', 'f7', 'smtp', () => stack.pausePostgres(PAUSE_MS));
    expectHeld(figures);
  }, SCENARIO_MS);
});
