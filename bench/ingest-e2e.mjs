// End to end, to the mailbox (issue #14): Postfix → virtual(8) → Maildir (fsync on) against
// Mailyard (smtp-server → PG spool → inbound-worker → mailbox), for 1 user and for 20 users, each
// clocked from the first connection until every message is in its mailbox. Used by
// bench/smtp-ingest.mjs (targets `postfix-maildir`, `mailyard-e2e`: smtp-server + inbound-worker as
// separate processes, and `mailyard-npm-start`: the whole stack as `npm start` runs it).
//
//   BENCH_MESSAGES=2000          messages per run (default 4000)
//   BENCH_USERS=20               which runs (default 1,20: one user, then mail spread over 20)
//   BENCH_WARMUP=8000            messages sent between the cold run and the measured runs (default 8000)
//   BENCH_NODE_FLAGS='--trace-opt --trace-deopt'   node flags for smtp-server and inbound-worker as separate
//                                processes (flags NODE_OPTIONS refuses; their output goes to the service logs)
//   BENCH_PG_STATEMENTS=1        pg_stat_statements on the private PostgreSQL (restarted once to load it):
//                                the top statements of each Mailyard run go into the JSON and the log
//   BENCH_WORKER_CPU_PROF=1      V8 CPU profile of the inbound worker (<run dir>/profiles; summarize
//                                with `node bench/cpuprofile-top.mjs FILE`)
//   BENCH_SMTP_CPU_PROF=1        the same for the smtp-server (smtp-server.cpuprofile)
//
// Each target, once started: 200 messages (connections, pools), then the *cold* run (1 user, as many
// messages as a measured run: the rate of processes just started, reported, not judged), then
// BENCH_WARMUP more messages unclocked, then (Mailyard) ANALYZE, then the measured runs. Node
// compiles its hot code while it runs: in the first ~10,000 messages V8's optimizing compiler takes
// 10–30 % of the smtp-server's and the worker's CPU (system-wide `perf`, session 13; bench/README.md
// "Cold and warm"). The measured runs are the rate of a server that has been running, as every
// server on the Internet has; the cold run says what the first minutes cost. Postfix gets the same
// sequence (without the ANALYZE: it has no planner).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort, startLocalPostgres, startLocalRedis } from '../core/dist/local/index.js';
import { benchLog as log, benchNodeFlags, childPids, cleanups, cpuSeconds, envCount, exited, memoryKb, ROOT, round, runBounded, sleep, SMTP_SOURCE, startChild, startPostgresWithStatements, startPrivatePostfix, stopPid, systemCpu, topStatements, treeCpuSeconds, waitForBanner, writePrivatePostfix } from './lib.mjs';

const execFileP = promisify(execFile);
const HOST = '127.0.0.1';

export const E2E_PLAN = {
  messages: envCount('BENCH_MESSAGES', 4000),
  messageBytes: 5120,
  sessions: 20,
  userCounts: (process.env.BENCH_USERS ?? '1,20').split(',').map(Number),
  warmupMessages: 200,
  /** After the cold run, before the measured runs (unclocked): see the header. */
  jitWarmupMessages: envCount('BENCH_WARMUP', 8000),
  senderTimeoutMs: 180_000,
  /** From the last reply until every message is in a mailbox. */
  settleTimeoutMs: 300_000,
  sender: 'sender@source.test',
  note: 'smtp-source, a new connection per message, 20 sessions; 20 users: 20 smtp-source processes of 1 session each, one per user (u1..u20@bench.test), messages split evenly',
};

const userAddress = (n, users) => (users === 1 ? 'user@bench.test' : `u${n}@bench.test`);
const addressesFor = (users) => Array.from({ length: users }, (_, i) => userAddress(i + 1, users));

/** Sends `messages` spread over `users` (see E2E_PLAN.note); resolves when every sender has exited. */
async function send(port, users, messages, cwd) {
  const per = Math.floor(messages / users);
  const jobs = addressesFor(users).map((rcpt, i) => {
    const count = i === users - 1 ? messages - per * (users - 1) : per;
    const sessions = users === 1 ? E2E_PLAN.sessions : Math.max(1, Math.floor(E2E_PLAN.sessions / users));
    const args = ['-s', String(sessions), '-l', String(E2E_PLAN.messageBytes), '-m', String(count), '-f', E2E_PLAN.sender, '-t', rcpt, '-M', 'client.source.test', `${HOST}:${port}`];
    return runBounded(SMTP_SOURCE, args, { cwd, timeoutMs: E2E_PLAN.senderTimeoutMs });
  });
  const results = await Promise.all(jobs);
  const timedOut = results.some((r) => r.timedOut);
  if (timedOut) throw new Error(`smtp-source did not finish within ${E2E_PLAN.senderTimeoutMs} ms`);
  return { warnings: results.reduce((n, r) => n + r.lines.length, 0), firstWarnings: results.flatMap((r) => r.lines).slice(0, 5) };
}

/** Polls `count()` (every 50 ms, bounded) until it reaches `target`; seconds since `t0`, or null. */
async function waitForCount(count, target, t0, { timeoutMs, check }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await count();
    if (n >= target) return { seconds: (performance.now() - t0) / 1000, count: n };
    if (Date.now() > deadline) return { seconds: null, count: n };
    check?.();
    await sleep(50);
  }
}

/**
 * Unclocked: sends `messages` to the first run's users and waits (bounded) until `count()` has grown
 * by as many (in the Maildirs, or filed); `what` names the target in the error.
 */
async function warmUp(port, dir, messages, count, { timeoutMs, check, what }) {
  const target = (await count()) + messages;
  await send(port, E2E_PLAN.userCounts[0], messages, dir);
  const done = await waitForCount(count, target, performance.now(), { timeoutMs, check });
  if (done.seconds === null) throw new Error(`${what}: warm-up of ${messages}: only ${messages - (target - done.count)} arrived`);
}

// ---------------------------------------------------------------------------------------------
// Postfix → virtual(8) → Maildir

export async function benchPostfixMaildir(runDir) {
  const dir = path.join(runDir, 'postfix-maildir');
  const port = await freePort();
  const base = path.join(dir, 'maildirs');
  const users = Math.max(...E2E_PLAN.userCounts);
  const addresses = [...new Set(E2E_PLAN.userCounts.flatMap(addressesFor))];
  const { etc, queue, maillog } = writePrivatePostfix(dir, {
    listen: `${HOST}:${port}`,
    comment: 'Private benchmark instance (bench/ingest-e2e.mjs): bench.test is a virtual mailbox domain, delivered by virtual(8) into Maildirs.',
    settings: [
      'myhostname = bench.local',
      'mydestination = localhost',
      'virtual_mailbox_domains = bench.test',
      `virtual_mailbox_base = ${base}`,
      `virtual_mailbox_maps = texthash:${path.join(dir, 'etc', 'vmailbox')}`,
      'virtual_uid_maps = static:UID',
      'virtual_gid_maps = static:GID',
      'local_transport = discard:',
      'default_transport = discard:',
      'relay_transport = discard:',
    ],
  });
  // virtual(8) delivers as this uid (above virtual_minimum_uid); Postfix's own account is one.
  const { stdout: ids } = await execFileP('id', ['postfix']);
  const uid = /uid=(\d+)/.exec(ids)[1];
  const gid = /gid=(\d+)/.exec(ids)[1];
  const mainCf = path.join(etc, 'main.cf');
  fs.writeFileSync(mainCf, fs.readFileSync(mainCf, 'utf8').replace('static:UID', `static:${uid}`).replace('static:GID', `static:${gid}`));
  // "user/" (trailing slash): a Maildir under virtual_mailbox_base.
  fs.writeFileSync(path.join(etc, 'vmailbox'), addresses.map((a) => `${a} ${a.split('@')[0]}/`).join('\n') + '\n');
  fs.mkdirSync(base, { recursive: true });
  fs.chownSync(base, Number(uid), Number(gid));

  const delivered = () => {
    let n = 0;
    for (const a of addresses) {
      for (const sub of ['new', 'cur']) {
        try {
          n += fs.readdirSync(path.join(base, a.split('@')[0], sub)).length;
        } catch {
          /* not created yet */
        }
      }
    }
    return n;
  };
  await startPrivatePostfix({ dir, etc, queue, maillog, host: HOST, port });
  const count = async () => delivered();
  await warmUp(port, dir, E2E_PLAN.warmupMessages, count, { timeoutMs: 60_000, what: `postfix-maildir (see ${maillog})` });

  const measure = async (userCount, label) => {
    const before = delivered();
    const sys0 = systemCpu();
    const t0 = performance.now();
    const sent = await send(port, userCount, E2E_PLAN.messages, dir);
    const sendSeconds = (performance.now() - t0) / 1000;
    const done = await waitForCount(async () => delivered(), before + E2E_PLAN.messages, t0, { timeoutMs: E2E_PLAN.settleTimeoutMs });
    const sys1 = systemCpu();
    if (done.seconds === null) throw new Error(`postfix-maildir, ${label}: only ${done.count - before} of ${E2E_PLAN.messages} in the Maildirs`);
    const run = {
      users: userCount,
      messages: E2E_PLAN.messages,
      sendSeconds: round(sendSeconds, 2),
      seconds: round(done.seconds, 2),
      messagesPerSecond: round(E2E_PLAN.messages / done.seconds, 0),
      machineCoresBusy: round((sys1.busy - sys0.busy) / done.seconds, 2),
      ...sent,
    };
    log(`postfix → Maildir, ${label}: ${E2E_PLAN.messages} in ${done.seconds.toFixed(2)} s = ${run.messagesPerSecond} msg/s (senders done after ${sendSeconds.toFixed(2)} s)`);
    return run;
  };
  const cold = await measure(E2E_PLAN.userCounts[0], `cold, ${E2E_PLAN.userCounts[0]} user(s)`);
  await warmUp(port, dir, E2E_PLAN.jitWarmupMessages, count, { timeoutMs: E2E_PLAN.settleTimeoutMs, what: `postfix-maildir (see ${maillog})` });
  const runs = {};
  for (const userCount of E2E_PLAN.userCounts) runs[`users${userCount}`] = await measure(userCount, `${userCount} user(s)`);
  return { note: 'smtpd -> cleanup (queue fsync) -> qmgr -> virtual(8) -> Maildir (fsync); clock: first connection -> every file in new/', users, cold, warmupMessages: E2E_PLAN.jitWarmupMessages, runs };
}

// ---------------------------------------------------------------------------------------------
// Mailyard, end to end (until every message is filed: spool_filings)

/**
 * The planner's statistics as autovacuum keeps them on a server that has run a while: it analyzes a
 * table once a tenth of it has changed, checking every minute, and a bench fills a new database
 * faster than that. Without them, a statement prepared while `spool` was nearly empty keeps its
 * plan as the table grows (session 13: the spool "done" UPDATE cost 39 µs a message in the cold run
 * and 149 µs after 12,000 more; ANALYZE replans it). Run between the warm-up and the measured runs.
 */
export async function analyzeLikeAutovacuum(db) {
  await db.query('ANALYZE /* bench */');
}

/**
 * A private PostgreSQL (fsync on) and Redis under `<runDir>/<name>`, the domain bench.test with
 * `addresses` as users, and Mailyard's SMTP + inbound path on a free loopback port: smtp-server and
 * inbound-worker as separate processes (as compose runs them), or with `viaNpmStart` the whole stack
 * as `npm start` runs it. Every process is stopped by the cleanups. Shared by the e2e and steady targets.
 */
export async function startMailyardForBench(runDir, { name, addresses, viaNpmStart = false, statements = false }) {
  const dataDir = path.join(runDir, name);
  fs.mkdirSync(dataDir, { recursive: true });
  const startPg = () => startLocalPostgres({ dataDir });
  const pgServer = statements ? await startPostgresWithStatements(startPg) : await startPg();
  cleanups.push(() => pgServer.stop());
  const redisServer = await startLocalRedis({ dataDir, persistent: true });
  cleanups.push(() => redisServer.stop());
  const db = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  cleanups.push(() => db.end());
  const settings = Object.fromEntries((await db.query(`SELECT name, setting FROM pg_settings WHERE name IN ('fsync','synchronous_commit','server_version')`)).rows.map((r) => [r.name, r.setting]));
  if (settings.fsync !== 'on' || settings.synchronous_commit !== 'on') throw new Error(`PostgreSQL is not durable here: ${JSON.stringify(settings)}`);

  const baseEnv = { ...process.env, DATABASE_URL: pgServer.url, REDIS_URL: redisServer.url, DATA_DIR: dataDir, LOG_LEVEL: 'warn', NODE_ENV: 'production' };
  const cli = (...args) => execFileP(process.execPath, [path.join(ROOT, 'bin', 'mailyard.mjs'), ...args], { cwd: ROOT, env: baseEnv, timeout: 60_000 });
  await cli('domain', 'add', 'bench.test');
  for (let i = 0; i < addresses.length; i += 4) {
    await Promise.all(addresses.slice(i, i + 4).map((a) => cli('user', 'add', a, '--password', `pw${randomBytes(12).toString('hex')}`)));
  }

  const smtpPort = await freePort();
  const serviceEnv = {
    ...baseEnv,
    SMTP_PORT: String(smtpPort),
    BIND_ADDRESS: HOST,
    MAIL_HOSTNAME: 'mx.bench.test',
    SMTP_MAX_CONNECTIONS_PER_IP: '1000',
    SMTP_MAX_MESSAGES_PER_IP_PER_MINUTE: '10000000',
    SMTP_MAX_MESSAGES_PER_CONNECTION: '100000',
    SMTP_MAX_DATA_PER_IP: '1000', // every session comes from 127.0.0.1
  };
  // The other listeners too (smtp-server's submission and SMTPS; under npm start IMAP and HTTP): never a fixed port.
  for (const key of ['SUBMISSION_PORT', 'SMTPS_PORT', 'IMAP_PORT', 'IMAPS_PORT', 'HTTP_PORT', 'HTTPS_PORT']) serviceEnv[key] = String(await freePort());
  const services = viaNpmStart ? await startNpmStack(runDir, serviceEnv, smtpPort) : await startSeparateProcesses(runDir, serviceEnv, smtpPort);
  const postmasterPid = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const redisPid = JSON.parse(fs.readFileSync(path.join(dataDir, 'redis', 'server.json'), 'utf8')).pid;
  return { db, settings, redisUrl: redisServer.url, smtpPort, services, postmasterPid, redisPid };
}

/** smtp-server and inbound-worker, one process each (as compose runs them). */
async function startSeparateProcesses(runDir, serviceEnv, smtpPort) {
  const nodeFlags = benchNodeFlags();
  const profile = process.env.BENCH_WORKER_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.join(runDir, 'profiles')}`, '--cpu-prof-name=inbound-worker.cpuprofile'] : [];
  const worker = startChild(process.execPath, [...nodeFlags, ...profile, path.join(ROOT, 'inbound-worker', 'dist', 'main.js')], { cwd: ROOT, env: serviceEnv, logFile: path.join(runDir, 'inbound-worker-e2e.log') });
  cleanups.push(() => stopPid(worker, 'SIGTERM', 30_000));
  const smtpProfile = process.env.BENCH_SMTP_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.join(runDir, 'profiles')}`, '--cpu-prof-name=smtp-server.cpuprofile'] : [];
  const smtp = startChild(process.execPath, [...nodeFlags, ...smtpProfile, path.join(ROOT, 'smtp-server', 'dist', 'main.js')], { cwd: ROOT, env: serviceEnv, logFile: path.join(runDir, 'smtp-server-e2e.log') });
  cleanups.push(() => stopPid(smtp, 'SIGTERM', 20_000));
  await waitForBanner(HOST, smtpPort, { child: smtp });
  return {
    note: 'smtp-server and inbound-worker as separate processes',
    cpu: () => ({ smtpServer: cpuSeconds(smtp.pid), inboundWorker: cpuSeconds(worker.pid) }),
    memory: () => ({ smtpServer: memoryKb(smtp.pid), inboundWorker: memoryKb(worker.pid) }),
    check: () => {
      if (exited(worker)) throw new Error(`inbound-worker exited:\n${worker.tail()}`);
      if (exited(smtp)) throw new Error(`smtp-server exited:\n${smtp.tail()}`);
    },
  };
}

/** The service a child of the stack runs (`node …/stack/dist/child.js <service>`), or null. */
function stackServiceOf(pid) {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const i = argv.findIndex((a) => a.endsWith(path.join('stack', 'dist', 'child.js')));
    return i >= 0 ? (argv[i + 1] ?? null) : null;
  } catch {
    return null;
  }
}

const camel = (service) => service.replace(/-(\w)/g, (_, c) => c.toUpperCase());

/**
 * The stack as `npm start` runs it: node stack/dist/main.js (scripts/start.mjs only installs and
 * builds first, then spawns exactly that), SMTP_PROCESSES at its default, every port a free loopback
 * one (startMailyardForBench), PostgreSQL and Redis the bench's. Its children (one per service, the SMTP ones by
 * node:cluster) are found in /proc. Stopped by SIGTERM (it drains its children, then exits); any
 * child still alive after that is SIGKILLed by its PID.
 */
async function startNpmStack(runDir, serviceEnv, smtpPort) {
  const stack = startChild(process.execPath, [path.join(ROOT, 'stack', 'dist', 'main.js')], { cwd: ROOT, env: serviceEnv, logFile: path.join(runDir, 'npm-start.log') });
  const seen = new Map(); // pid -> service, every child of the stack seen
  const services = () => {
    const live = childPids(stack.pid).map((pid) => ({ pid, service: stackServiceOf(pid) })).filter((c) => c.service);
    for (const c of live) seen.set(c.pid, c.service);
    return live;
  };
  cleanups.push(async () => {
    services();
    await stopPid(stack, 'SIGTERM', 60_000);
    for (const [pid, service] of seen) {
      if (stackServiceOf(pid) !== service) continue; // gone (or the PID reused)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  const deadline = Date.now() + 120_000;
  while (!stack.tail().includes('Mailyard is running.')) {
    if (exited(stack)) throw new Error(`npm start's stack exited while starting:\n${stack.tail()}`);
    if (Date.now() > deadline) throw new Error(`npm start's stack did not start within 120 s:\n${stack.tail()}`);
    await sleep(200);
  }
  await waitForBanner(HOST, smtpPort, { child: stack });
  const started = services();
  log(`npm start: ${started.map((c) => `${c.service} (pid ${c.pid})`).join(', ')}`);
  /** Per service (camelCase, the SMTP processes summed): CPU seconds of its live processes. */
  const cpu = () => {
    const out = { stackMain: cpuSeconds(stack.pid) };
    for (const c of services()) out[camel(c.service)] = (out[camel(c.service)] ?? 0) + (cpuSeconds(c.pid) ?? 0);
    return out;
  };
  return {
    note: `the stack as \`npm start\` runs it (stack/dist/main.js; ${started.filter((c) => c.service === 'smtp-server').length} SMTP processes, SMTP_PROCESSES ${serviceEnv.SMTP_PROCESSES ?? 'default'})`,
    cpu,
    memory: () => {
      const out = { stackMain: memoryKb(stack.pid) };
      for (const c of services()) out[`${c.service}#${c.pid}`] = memoryKb(c.pid);
      return out;
    },
    check: () => {
      if (exited(stack)) throw new Error(`npm start's stack exited:\n${stack.tail()}`);
    },
  };
}

/**
 * Mailyard end to end: `viaNpmStart` false = target `mailyard-e2e` (separate processes), true =
 * `mailyard-npm-start`; the same loads and clock.
 */
export async function benchMailyardE2E(runDir, { viaNpmStart = false } = {}) {
  const name = viaNpmStart ? 'mailyard-npm-start' : 'mailyard-e2e';
  const statements = Boolean(process.env.BENCH_PG_STATEMENTS);
  const addresses = [...new Set(E2E_PLAN.userCounts.flatMap(addressesFor))];
  const { db, settings, smtpPort, services, postmasterPid, redisPid } = await startMailyardForBench(runDir, { name, addresses, viaNpmStart, statements });

  // Polled every 50 ms: counted from the primary key above the last spool id seen before a run, so
  // the poll stays cheap. The bench's own queries are left out of the statement figures.
  let sinceSpoolId = 0;
  let polls = 0; // each is a commit of its own: taken out of the commit figure
  const filed = async () => ++polls && Number((await db.query('SELECT count(*)::bigint AS n FROM spool_filings WHERE spool_id > $1 /* bench */', [sinceSpoolId])).rows[0].n);
  const pgCounters = async () => {
    const { rows } = await db.query(`SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())::bigint AS commits, pg_current_wal_lsn()::text AS lsn, (SELECT coalesce(sum(fsyncs), 0) FROM pg_stat_io WHERE object = 'wal')::bigint AS fsyncs`);
    return { commits: Number(rows[0].commits), lsn: rows[0].lsn, fsyncs: Number(rows[0].fsyncs) };
  };
  const walBytes = async (a, b) => Number((await db.query('SELECT pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::bigint AS n', [a, b])).rows[0].n);
  const cpu = () => ({ ...services.cpu(), postgres: treeCpuSeconds(postmasterPid), redis: cpuSeconds(redisPid), system: systemCpu() });
  const check = services.check;
  // Searchable: the search index stage (migration 0026) has no message left queued. Counted as
  // minus the queue, so that waitForCount's "at least 0" means "none left".
  const notQueued = async () => ++polls && -Number((await db.query('SELECT count(*)::bigint AS n FROM search_pending /* bench */')).rows[0].n);
  const searchable = (t0, timeoutMs) => waitForCount(notQueued, 0, t0, { timeoutMs, check });

  await warmUp(smtpPort, runDir, E2E_PLAN.warmupMessages, filed, { timeoutMs: 60_000, check, what: name });
  await searchable(performance.now(), 60_000);

  const measure = async (userCount, label) => {
    const n = E2E_PLAN.messages;
    if (statements) await db.query('SELECT pg_stat_statements_reset()');
    sinceSpoolId = Number((await db.query('SELECT coalesce(max(id), 0)::bigint AS id FROM spool /* bench */')).rows[0].id);
    const before = await filed();
    const pg0 = await pgCounters();
    const polls0 = polls;
    const cpu0 = cpu();
    const t0 = performance.now();
    const sent = await send(smtpPort, userCount, n, runDir);
    const sendSeconds = (performance.now() - t0) / 1000;
    const pendingAtSendEnd = before + n - (await filed());
    const done = await waitForCount(filed, before + n, t0, { timeoutMs: E2E_PLAN.settleTimeoutMs, check });
    const cpu1 = cpu();
    const pg1 = await pgCounters();
    const polls1 = polls; // the bench's own commits up to pg1 (the searchable wait below polls after it)
    if (done.seconds === null) throw new Error(`${name}, ${userCount} users: only ${done.count - before} of ${n} filed`);
    // Then until the last of them is searchable (the search index stage runs after filing).
    const indexed = await searchable(t0, E2E_PLAN.settleTimeoutMs);
    const cpu2 = cpu();
    const perMessageUs = (a, b) => (a === null || b === null ? null : round(((b - a) / n) * 1e6, 0));
    const cpuUs = (from, to) => ({
      ...Object.fromEntries(Object.keys(to).filter((k) => k !== 'system').map((k) => [k, perMessageUs(from[k] ?? null, to[k])])),
      wholeMachine: perMessageUs(from.system.busy, to.system.busy),
    });
    const run = {
      users: userCount,
      messages: n,
      sendSeconds: round(sendSeconds, 2),
      seconds: round(done.seconds, 2),
      messagesPerSecond: round(n / done.seconds, 0),
      pendingWhenSendersFinished: pendingAtSendEnd,
      cpuMicrosecondsPerMessage: cpuUs(cpu0, cpu1),
      searchable: { seconds: indexed.seconds === null ? null : round(indexed.seconds, 2), cpuMicrosecondsPerMessage: cpuUs(cpu0, cpu2) },
      machineCoresBusy: round((cpu1.system.busy - cpu0.system.busy) / done.seconds, 2),
      postgres: {
        commitsPerMessage: round((pg1.commits - pg0.commits - (polls1 - polls0) - 1) / n, 2),
        walBytesPerMessage: round((await walBytes(pg0.lsn, pg1.lsn)) / n, 0),
        walFsyncsPerMessage: round((pg1.fsyncs - pg0.fsyncs) / n, 3),
      },
      ...sent,
    };
    if (statements) run.topStatements = await topStatements(db, n, { exclude: ['SELECT count(*)::bigint AS n FROM spool_filings WHERE spool_id >%', 'SELECT coalesce(max(id), 0)::bigint AS id FROM spool%', 'SELECT count(*)::bigint AS n FROM search_pending%'] });
    const c = run.cpuMicrosecondsPerMessage;
    log(`${name}, ${label}: ${n} in ${done.seconds.toFixed(2)} s = ${run.messagesPerSecond} msg/s (senders done after ${sendSeconds.toFixed(2)} s, ${pendingAtSendEnd} not yet filed then)`);
    log(`  CPU µs/message: ${Object.entries(c).filter(([k]) => k !== 'wholeMachine').map(([k, v]) => `${k} ${v}`).join(', ')}; machine ${run.machineCoresBusy} cores busy; PG ${run.postgres.commitsPerMessage} commits, ${run.postgres.walBytesPerMessage} WAL bytes, ${run.postgres.walFsyncsPerMessage} WAL fsyncs per message`);
    const cs = run.searchable.cpuMicrosecondsPerMessage;
    log(`  searchable (search index stage done) after ${run.searchable.seconds ?? '—'} s; CPU µs/message until then: ${Object.entries(cs).filter(([k]) => k !== 'wholeMachine').map(([k, v]) => `${k} ${v}`).join(', ')}`);
    for (const s of run.topStatements ?? []) log(`  ${String(s.usPerUnit).padStart(7)} ms/msg·1000  ${String(s.calls).padStart(7)} calls  ${String(s.walBytesPerUnit).padStart(6)} WAL B/msg  ${s.query}`);
    return run;
  };
  const cold = await measure(E2E_PLAN.userCounts[0], `cold, ${E2E_PLAN.userCounts[0]} user(s)`);
  await warmUp(smtpPort, runDir, E2E_PLAN.jitWarmupMessages, filed, { timeoutMs: E2E_PLAN.settleTimeoutMs, check, what: name });
  await analyzeLikeAutovacuum(db);
  const runs = {};
  for (const userCount of E2E_PLAN.userCounts) runs[`users${userCount}`] = await measure(userCount, `${userCount} user(s)`);
  return { postgres: settings, note: `${services.note}; clock: first connection -> spool_filings has every message`, cold, warmupMessages: E2E_PLAN.jitWarmupMessages, runs, memory: services.memory() };
}
