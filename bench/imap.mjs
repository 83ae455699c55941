#!/usr/bin/env node
// IMAP load benchmark (issue #10): Mailyard's imap-server against a private Dovecot (Debian's
// dovecot-imapd), both on 127.0.0.1, in one run, over the same users and the same messages.
// Plain Node ESM; run after `npm run build` (or use `npm run bench:imap`, which builds first).
//
//   node bench/imap.mjs                                   # both targets, the full plan
//   BENCH_ONLY=dovecot node bench/imap.mjs                # one target (mailyard | dovecot)
//   BENCH_USERS=5 BENCH_CLIENTS=5 BENCH_ITERATIONS=3 BENCH_WARMUP_ITERATIONS=3 BENCH_IDLE_CONNECTIONS=100 BENCH_WAKE_MESSAGES=20 ...
//                                                         # a small run while developing
//   BENCH_KEEP=1 ...                                      # keep bench/.data/run-imap-* afterwards
//   BENCH_IMAP_CPU_PROF=1 ...                             # V8 CPU profile of imap-server (<run dir>/profiles;
//                                                         # summarize with `node bench/cpuprofile-top.mjs FILE`)
//   BENCH_IMAP_PROCESSES=2 ...                            # IMAP_PROCESSES of imap-server (default: its own, 1)
//   BENCH_PG_STATEMENTS=1 ...                             # pg_stat_statements on Mailyard's PostgreSQL (restarted
//                                                         # once to load it): the top statements of the operations
//                                                         # phase per round of the mix, in the JSON and the log
//   BENCH_TOP=300 ...                                     # how many of those statements (default 40)
//   BENCH_WARMUP_ITERATIONS=0 ...                         # rounds of the cold pass before the timed one (default 20)
//   BENCH_PASSES=4 ...                                    # measured passes per server, alternating (default 2)
//   BENCH_NODE_FLAGS='--trace-opt' ...                    # node flags for imap-server (its output goes to its log)
//
// Per target: (1) operations per second of BENCH_CLIENTS imapflow clients, one per user, each
// looping a fixed mix BENCH_ITERATIONS times, after a cold pass of the mix, in BENCH_PASSES passes
// (default 2) that alternate with the other server's (both are started and loaded first); (2) IDLE wake: a message delivered (Mailyard: SMTP
// to its MX, clocked from the 250; Dovecot: dovecot-lda) until the IDLE client reads its EXISTS;
// (3) resident memory of the server process(es) before and after BENCH_IDLE_CONNECTIONS logged-in
// connections sit in IDLE. Every process started here is stopped by PID in a finally block (also
// on Ctrl-C); nothing outside bench/.data is written except bench/results/imap-<timestamp>.json.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import pg from 'pg';
import { freePort, startLocalPostgres, startLocalRedis } from '../core/dist/local/index.js';
import { benchLog as log, benchNodeFlags, cleanups, cpuSeconds, DATA_ROOT, envCount, exited, finishRun, machineInfo, memoryKb, onlyFilter, percentile, procStat, pruneOldRuns, RESULTS, ROOT, round, runCleanups, sleep, startChild, startPostgresWithStatements, stopOnSignals, stopPid, systemCpu, topStatements, treeCpuSeconds, waitForBanner, withTimeout } from './lib.mjs';

const execFileP = promisify(execFile);
const HOST = '127.0.0.1';
const DOMAIN = 'bench.test';
const DOVECOT = '/usr/sbin/dovecot';
const DOVECOT_LDA = '/usr/lib/dovecot/dovecot-lda';

/** The workload. Kept here so the JSON records exactly what ran. */
const PLAN = {
  users: envCount('BENCH_USERS', 50),
  messagesPerUser: 200,
  /** Concurrent imapflow clients in phase 1 (client i works as user i mod users). */
  clients: envCount('BENCH_CLIENTS', 50),
  /** Rounds of the mix per client (10 commands each), in each measured pass. */
  iterations: envCount('BENCH_ITERATIONS', 20),
  /** Measured passes per server, alternating between the servers (A B B A …); the figure is all of them together. */
  passes: envCount('BENCH_PASSES', 2),
  /**
   * Rounds of the mix per client run first, with other choices (seeds), and reported as the cold
   * pass, not judged: Node compiles its hot code while it runs (V8's optimizing compiler took 5–13 %
   * of imap-server's CPU all through a 10 s phase after the loading; bench/README.md "Cold and warm").
   * Both servers get it.
   */
  warmupIterations: envCount('BENCH_WARMUP_ITERATIONS', 20, 0),
  fetchRange: 20,
  idleConnections: envCount('BENCH_IDLE_CONNECTIONS', 1000),
  wakeMessages: envCount('BENCH_WAKE_MESSAGES', 200),
  /** Logins at once: Mailyard counts an attempt in flight against the per-IP failure limit (30). */
  loginConcurrency: 20,
  /** RSS is sampled this many times, this far apart, before and after the idle connections. */
  memorySamples: 5,
  memorySampleEveryMs: 500,
  opsTimeoutMs: 600_000,
  idleOpenTimeoutMs: 600_000,
  wakeTimeoutMs: 10_000,
  mix: 'SELECT INBOX; FETCH n:n+19 (FLAGS ENVELOPE); FETCH one BODY[]; SEARCH UNSEEN; SEARCH FROM senderK; SEARCH SINCE <date>; STORE +FLAGS \\Seen; STORE -FLAGS \\Seen; APPEND a 1 KB message to INBOX; IDLE (until its "+", then DONE) + NOOP',
};
const TARGETS = { opsPerSecondAtLeastDovecot: true, memoryPerConnectionAtMostTimesDovecot: 2, idleWakeP99Ms: 500 };
const OPS = ['select', 'fetchRange', 'fetchBody', 'searchUnseen', 'searchFrom', 'searchSince', 'storeAdd', 'storeRemove', 'append', 'idle'];

const wanted = onlyFilter();
stopOnSignals();

// ---------------------------------------------------------------------------------------------
// The messages: one Maildir template, APPENDed to Mailyard and copied for Dovecot.

/** A small deterministic PRNG (mulberry32): both targets see the same choices. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY = 86_400_000;
const EPOCH = Date.UTC(2026, 0, 1);
const words = 'mail yard imap load bench message report meeting invoice project update review team schedule draft'.split(' ');
const text = (rnd, bytes) => {
  const lines = [];
  let n = 0;
  while (n < bytes) {
    const line = Array.from({ length: 12 }, () => words[Math.floor(rnd() * words.length)]).join(' ');
    lines.push(line);
    n += line.length + 2;
  }
  return lines.join('\r\n');
};
const base64 = (buf) => buf.toString('base64').replace(/.{76}/g, '$&\r\n');

/**
 * Message i of every mailbox: 60% plain text of 1–4 KB, 20% text of 20–60 KB, 10% text with an
 * attachment of 100–300 KB, 10% multipart/alternative with a 10 KB attachment; from one of ten
 * senders, dated one day apart (newest last).
 */
function templateMessage(i) {
  const rnd = prng(1000 + i);
  const date = new Date(EPOCH + i * DAY);
  const head = [`From: Sender ${i % 10} <sender${i % 10}@source.test>`, `To: <user@${DOMAIN}>`, `Subject: ${text(rnd, 30).split('\r\n')[0]} ${i}`, `Date: ${date.toUTCString()}`, `Message-ID: <imap-bench-${i}@source.test>`, 'MIME-Version: 1.0'];
  const kind = i % 10;
  let body;
  if (kind < 8) {
    const size = kind < 6 ? 1024 + Math.floor(rnd() * 3072) : 20_480 + Math.floor(rnd() * 40_960);
    head.push('Content-Type: text/plain; charset=utf-8');
    body = text(rnd, size);
  } else {
    const attachment = Buffer.from(Array.from({ length: kind === 8 ? 102_400 + Math.floor(rnd() * 204_800) : 10_240 }, () => Math.floor(rnd() * 256)));
    const boundary = `b${i}`;
    head.push(`Content-Type: multipart/mixed; boundary="${boundary}"`);
    const first = kind === 8 ? ['Content-Type: text/plain; charset=utf-8', '', text(rnd, 2048)] : ['Content-Type: multipart/alternative; boundary="alt"', '', '--alt', 'Content-Type: text/plain; charset=utf-8', '', text(rnd, 1500), '--alt', 'Content-Type: text/html; charset=utf-8', '', `<p>${text(rnd, 1500)}</p>`, '--alt--'];
    body = [`--${boundary}`, ...first, `--${boundary}`, `Content-Type: application/octet-stream; name="file${i}.bin"`, 'Content-Transfer-Encoding: base64', `Content-Disposition: attachment; filename="file${i}.bin"`, '', base64(attachment), `--${boundary}--`].join('\r\n');
  }
  return { raw: Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}\r\n`), date, seen: i % 3 !== 0, flagged: i % 17 === 0 };
}

/** The template Maildir (INBOX only): files in cur/ with their flags in the name, mtime = the date. */
function writeTemplateMaildir(dir) {
  for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  let bytes = 0;
  for (let i = 0; i < PLAN.messagesPerUser; i++) {
    const m = templateMessage(i);
    const flags = `${m.flagged ? 'F' : ''}${m.seen ? 'S' : ''}`;
    const file = path.join(dir, 'cur', `${Math.floor(m.date.getTime() / 1000)}.M${i}P1.bench,S=${m.raw.length}:2,${flags}`);
    fs.writeFileSync(file, m.raw);
    fs.utimesSync(file, m.date, m.date);
    bytes += m.raw.length;
  }
  return bytes;
}

const userAddress = (n) => `user${n}@${DOMAIN}`;

/** A small message for APPEND and for the IDLE wake. */
const smallMessage = (tag) => Buffer.from(`From: <probe@source.test>\r\nTo: <user1@${DOMAIN}>\r\nSubject: ${tag}\r\nDate: ${new Date().toUTCString()}\r\nMessage-ID: <${tag}-${randomBytes(6).toString('hex')}@source.test>\r\n\r\n${'x'.repeat(900)}\r\n`);

// ---------------------------------------------------------------------------------------------
// Clients

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

const imapflow = (port, user) => new ImapFlow({ host: HOST, port, secure: false, doSTARTTLS: false, auth: { user: user.address, pass: user.password }, logger: false, disableAutoIdle: true, connectionTimeout: 60_000, greetingTimeout: 30_000 });

/**
 * Phase 1: PLAN.clients logged-in imapflow clients each run the mix PLAN.iterations times; every
 * command is timed. The choices (ranges, messages, senders, dates) come from a PRNG seeded by the
 * client's number, so both servers get the same commands.
 */
async function measureOps(port, users, cpu, { iterations = PLAN.iterations, seed = 1 } = {}) {
  const latencies = Object.fromEntries(OPS.map((op) => [op, []]));
  const clients = await pool(
    Array.from({ length: PLAN.clients }, (_, i) => users[i % users.length]),
    PLAN.loginConcurrency,
    async (user) => {
      const c = imapflow(port, user);
      c.on('error', () => {});
      await c.connect();
      return c;
    },
  );
  cleanups.push(() => Promise.all(clients.map((c) => c.logout().catch(() => c.close()))));
  const timed = async (op, fn) => {
    const t0 = performance.now();
    await fn();
    latencies[op].push(performance.now() - t0);
  };
  const loop = async (c, clientIndex) => {
    const rnd = prng(clientIndex + seed);
    const pick = (n) => 1 + Math.floor(rnd() * n);
    for (let round = 0; round < iterations; round++) {
      let mailbox;
      await timed('select', async () => (mailbox = await c.mailboxOpen('INBOX')));
      const total = Math.min(mailbox.exists, PLAN.messagesPerUser);
      const start = pick(total - PLAN.fetchRange + 1);
      await timed('fetchRange', async () => {
        // Another session's STORE on a shared user may add FETCH (FLAGS) responses: count envelopes.
        const seen = new Set();
        for await (const m of c.fetch(`${start}:${start + PLAN.fetchRange - 1}`, { flags: true, envelope: true })) if (m.envelope) seen.add(m.seq);
        if (seen.size !== PLAN.fetchRange) throw new Error(`FETCH returned ${seen.size} envelopes of ${PLAN.fetchRange}`);
      });
      await timed('fetchBody', async () => {
        const m = await c.fetchOne(String(pick(total)), { source: true });
        if (!m?.source?.length) throw new Error('FETCH BODY[] returned nothing');
      });
      await timed('searchUnseen', () => c.search({ seen: false }));
      await timed('searchFrom', () => c.search({ from: `sender${pick(10) - 1}@source.test` }));
      await timed('searchSince', () => c.search({ since: new Date(EPOCH + pick(PLAN.messagesPerUser) * DAY) }));
      const seq = String(pick(total));
      await timed('storeAdd', () => c.messageFlagsAdd(seq, ['\\Seen']));
      await timed('storeRemove', () => c.messageFlagsRemove(seq, ['\\Seen']));
      await timed('append', () => c.append('INBOX', smallMessage(`append-${seed}-${clientIndex}-${round}`), ['\\Seen']));
      await timed('idle', async () => {
        const idling = c.idle();
        await c.noop(); // waits for the server's "+", sends DONE, then NOOP
        await idling;
      });
    }
  };
  const cpu0 = cpu();
  const t0 = performance.now();
  await withTimeout(Promise.all(clients.map(loop)), PLAN.opsTimeoutMs, 'the operations phase');
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpu();
  const operations = OPS.reduce((n, op) => n + latencies[op].length, 0);
  // CPU milliseconds per operation of each server process (group), and the machine's busy time.
  const cpuMsPerOperation = Object.fromEntries(Object.keys(cpu1).map((k) => [k, cpu0[k] == null || cpu1[k] == null ? null : round(((cpu1[k] - cpu0[k]) * 1000) / operations, 3)]));
  const perOp = Object.fromEntries(
    OPS.map((op) => {
      const sorted = latencies[op].sort((a, b) => a - b);
      return [op, { count: sorted.length, p50Ms: round(percentile(sorted, 50), 1), p99Ms: round(percentile(sorted, 99), 1) }];
    }),
  );
  await Promise.all(clients.map((c) => c.logout().catch(() => c.close())));
  const pass = { clients: PLAN.clients, operations, seconds: round(seconds, 2), opsPerSecond: round(operations / seconds, 0), cpuMsPerOperation, perOp };
  // The raw latencies, for combinePasses; left out of the JSON.
  Object.defineProperty(pass, 'latencies', { value: latencies, enumerable: false });
  return pass;
}

/** The measured passes of one server as one figure: commands over wall time, CPU per command weighted by commands, latencies of all. */
function combinePasses(passes) {
  const operations = passes.reduce((n, p) => n + p.operations, 0);
  const seconds = passes.reduce((n, p) => n + p.seconds, 0);
  const keys = Object.keys(passes[0].cpuMsPerOperation);
  const cpuMsPerOperation = Object.fromEntries(
    keys.map((k) => [k, passes.some((p) => p.cpuMsPerOperation[k] == null) ? null : round(passes.reduce((n, p) => n + p.cpuMsPerOperation[k] * p.operations, 0) / operations, 3)]),
  );
  const perOp = Object.fromEntries(
    OPS.map((op) => {
      const sorted = passes.flatMap((p) => p.latencies[op]).sort((a, b) => a - b);
      return [op, { count: sorted.length, p50Ms: round(percentile(sorted, 50), 1), p99Ms: round(percentile(sorted, 99), 1) }];
    }),
  );
  return { clients: PLAN.clients, passes: passes.length, operations, seconds: round(seconds, 2), opsPerSecond: round(operations / seconds, 0), cpuMsPerOperation, perOp };
}

/** PLAN.warmupIterations rounds of the mix with other choices, before the timed phase: clocked and reported, not judged. */
async function coldPass(port, users, cpu, name) {
  if (PLAN.warmupIterations === 0) return null;
  const pass = await measureOps(port, users, cpu, { iterations: PLAN.warmupIterations, seed: 1000 });
  log(`${name}: cold pass ${pass.opsPerSecond} ops/s (${pass.operations} commands, not judged); the measured pass…`);
  return pass;
}

/**
 * A bare IMAP connection (no library: 1,000 of them must weigh little in this process): lines
 * with the time each arrived, and `until(regex)` that waits for a matching line.
 */
function rawImap(port) {
  const socket = net.connect(port, HOST);
  let buffer = '';
  const lines = [];
  const waiters = [];
  let failure = null;
  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    buffer += chunk.toString('latin1');
    let end;
    while ((end = buffer.indexOf('\r\n')) !== -1) {
      const line = { text: buffer.slice(0, end), at: performance.now() };
      buffer = buffer.slice(end + 2);
      const w = waiters.findIndex((x) => x.re.test(line.text));
      if (w !== -1) waiters.splice(w, 1)[0].resolve(line);
      else lines.push(line);
    }
  });
  const fail = (err) => {
    failure ??= err;
    for (const w of waiters.splice(0)) w.reject(failure);
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('connection closed')));
  const until = (re, timeoutMs = 60_000) => {
    const i = lines.findIndex((l) => re.test(l.text));
    if (i !== -1) return Promise.resolve(lines.splice(0, i + 1)[i]);
    if (failure) return Promise.reject(failure);
    return withTimeout(new Promise((resolve, reject) => waiters.push({ re, resolve, reject })), timeoutMs, `waiting for ${re}`);
  };
  return {
    socket,
    until,
    /** Sends a tagged command and waits for its tagged OK (anything else throws). */
    async command(tag, line) {
      socket.write(`${tag} ${line}\r\n`);
      const done = await until(new RegExp(`^${tag} `));
      if (!/^\S+ OK/.test(done.text)) throw new Error(`${line.split(' ')[0]}: ${done.text}`);
      lines.length = 0;
    },
    /** LOGIN, SELECT INBOX and IDLE, resolved at the server's "+". */
    async idleAs(user) {
      await until(/^\* OK/);
      await this.command('a', `LOGIN "${user.address}" "${user.password}"`);
      await this.command('b', 'SELECT INBOX');
      socket.write('c IDLE\r\n');
      await until(/^\+/);
    },
    close: () => socket.destroy(),
  };
}

/**
 * Phase 2: IDLE wake. One raw client IDLEs on user1's INBOX; `deliver(i)` hands message i over and
 * resolves with the time the clock starts (and, for Dovecot, when the delivery agent exited);
 * the clock stops when the client reads the EXISTS for it. One message at a time.
 */
async function measureWake(port, user, deliver) {
  const c = rawImap(port);
  await c.idleAs(user);
  const fromStart = [];
  const fromDelivered = [];
  try {
    for (let i = 0; i < PLAN.wakeMessages; i++) {
      const exists = c.until(/^\* \d+ EXISTS/, PLAN.wakeTimeoutMs);
      exists.catch(() => {});
      const { startedAt, deliveredAt } = await deliver(i);
      const seen = await exists;
      fromStart.push(seen.at - startedAt);
      if (deliveredAt !== undefined) fromDelivered.push(seen.at - deliveredAt);
    }
  } finally {
    c.close();
  }
  const summary = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length === 0 ? null : { count: sorted.length, p50Ms: round(percentile(sorted, 50), 1), p99Ms: round(percentile(sorted, 99), 1), maxMs: round(sorted.at(-1), 1) };
  };
  return { messages: PLAN.wakeMessages, fromStart: summary(fromStart), fromDelivered: summary(fromDelivered) };
}

/** `pid` and every descendant (Dovecot's master forks its services), from one scan of /proc. */
function processTree(pid) {
  const children = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(procStat(entry)?.[1]);
    if (ppid) children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]) ?? []));
  return out;
}

/** Proportional set size (shared pages split among their sharers) of a process, in kB. */
function pssKb(pid) {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Summed RSS and PSS of the processes `pids()` names, averaged over PLAN.memorySamples readings. */
async function memoryOf(pids) {
  const samples = [];
  for (let i = 0; i < PLAN.memorySamples; i++) {
    if (i > 0) await sleep(PLAN.memorySampleEveryMs);
    const list = pids();
    samples.push({ processes: list.length, rssKb: list.reduce((n, p) => n + (memoryKb(p).vmRSSKb ?? 0), 0), pssKb: list.reduce((n, p) => n + pssKb(p), 0) });
  }
  const avg = (key) => Math.round(samples.reduce((n, s) => n + s[key], 0) / samples.length);
  return { processes: samples.at(-1).processes, rssKb: avg('rssKb'), pssKb: avg('pssKb') };
}

/**
 * Phase 3: memory per idle connection. RSS (and PSS) of the server's processes before, then with
 * PLAN.idleConnections logged-in connections in IDLE on INBOX (users round-robin); the difference
 * divided by the connections that reached IDLE.
 */
async function measureIdleMemory(port, users, pids) {
  const before = await memoryOf(pids);
  const conns = [];
  cleanups.push(() => conns.forEach((c) => c.close()));
  let failed = 0;
  let firstError = null;
  const t0 = performance.now();
  await withTimeout(
    pool(
      Array.from({ length: PLAN.idleConnections }, (_, i) => users[i % users.length]),
      PLAN.loginConcurrency,
      async (user) => {
        const c = rawImap(port);
        c.socket.on('error', () => {});
        try {
          await c.idleAs(user);
          conns.push(c);
        } catch (err) {
          c.close();
          failed++;
          firstError ??= err.message;
        }
      },
    ),
    PLAN.idleOpenTimeoutMs,
    'opening the idle connections',
  );
  const openSeconds = (performance.now() - t0) / 1000;
  const open = conns.filter((c) => !c.socket.destroyed).length;
  const after = await memoryOf(pids);
  for (const c of conns) c.close();
  const per = (key) => (open === 0 ? null : round((after[key] - before[key]) / open, 1));
  return { attempted: PLAN.idleConnections, open, failed, firstError, openSeconds: round(openSeconds, 1), before, after, rssKbPerConnection: per('rssKb'), pssKbPerConnection: per('pssKb') };
}

// ---------------------------------------------------------------------------------------------
// Mailyard: PostgreSQL, Redis, imap-server, smtp-server and inbound-worker as separate processes.

/**
 * A server under test, up and loaded, as main() drives it: its cold pass, its measured passes (the
 * servers' passes alternate), then `finish` (IDLE wake and memory per idle connection).
 * @typedef {{ result: object, port: number, cpu: () => object, alive: () => void, beforeMeasured?: () => Promise<void>, afterMeasured?: (ops: object) => Promise<void>, finish: () => Promise<void> }} Target
 */

/** Starts Mailyard (its own PostgreSQL, Redis, imap-server, smtp-server, inbound-worker), loads and warms it. @returns {Promise<Target>} */
async function startMailyard(runDir, template, users) {
  const dataDir = path.join(runDir, 'mailyard');
  fs.mkdirSync(dataDir, { recursive: true });
  const statements = Boolean(process.env.BENCH_PG_STATEMENTS);
  const startPg = () => startLocalPostgres({ dataDir });
  const pgServer = statements ? await startPostgresWithStatements(startPg) : await startPg();
  cleanups.push(() => pgServer.stop());
  const redisServer = await startLocalRedis({ dataDir });
  cleanups.push(() => redisServer.stop());
  const baseEnv = { ...process.env, DATABASE_URL: pgServer.url, REDIS_URL: redisServer.url, DATA_DIR: dataDir, LOG_LEVEL: 'warn', NODE_ENV: 'production' };
  const cli = (...args) => execFileP(process.execPath, [path.join(ROOT, 'bin', 'mailyard.mjs'), ...args], { cwd: ROOT, env: baseEnv, timeout: 300_000 });
  await cli('domain', 'add', DOMAIN);
  await pool(users, 4, (u) => cli('user', 'add', u.address, '--password', u.password));

  const [imapPort, smtpPort] = [await freePort(), await freePort()];
  const caps = { IMAP_ALLOW_PLAINTEXT_AUTH: 'true', IMAP_MAX_CONNECTIONS_PER_IP: String(PLAN.idleConnections + PLAN.clients + 100), IMAP_MAX_CONNECTIONS_PER_USER: String(Math.ceil(PLAN.idleConnections / users.length) + PLAN.clients + 10) };
  const env = {
    ...baseEnv,
    ...caps,
    IMAP_PORT: String(imapPort),
    IMAPS_PORT: String(await freePort()),
    SMTP_PORT: String(smtpPort),
    SUBMISSION_PORT: String(await freePort()),
    SMTPS_PORT: String(await freePort()),
    BIND_ADDRESS: HOST,
    MAIL_HOSTNAME: 'mx.bench.test',
    DNS_SERVERS: '127.0.0.1:9',
    SMTP_GREYLIST: 'off',
    ...(process.env.BENCH_IMAP_PROCESSES ? { IMAP_PROCESSES: process.env.BENCH_IMAP_PROCESSES } : {}),
  };
  const service = (name) => {
    const profile = process.env.BENCH_IMAP_CPU_PROF && name === 'imap-server' ? ['--cpu-prof', `--cpu-prof-dir=${path.join(runDir, 'profiles')}`, '--cpu-prof-name=imap-server.cpuprofile'] : [];
    const nodeFlags = name === 'imap-server' ? benchNodeFlags() : [];
    const child = startChild(process.execPath, [...nodeFlags, ...profile, path.join(ROOT, name, 'dist', 'main.js')], { cwd: ROOT, env, logFile: path.join(runDir, `${name}.log`) });
    cleanups.push(() => stopPid(child, 'SIGTERM', 20_000));
    return child;
  };
  const imap = service('imap-server');
  const smtp = service('smtp-server');
  const worker = service('inbound-worker');
  await waitForBanner(HOST, smtpPort, { child: smtp, timeoutMs: 180_000 }); // slow to start on a busy machine
  await waitForImap(imapPort, imap);
  const alive = () => {
    for (const [name, child] of [['imap-server', imap], ['smtp-server', smtp], ['inbound-worker', worker]]) if (exited(child)) throw new Error(`${name} exited:\n${child.tail()}`);
  };
  const t0 = performance.now();
  await appendTemplate(imapPort, users, template);
  log(`mailyard: ${users.length} users × ${PLAN.messagesPerUser} messages appended in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const w0 = performance.now();
  await warmUp(imapPort, users);
  // The tables as autovacuum keeps them on a server that has run a while: the planner's statistics (it analyzes a
  // table once a tenth of it has changed, checking every minute), and the bulk load's first vacuum done (after
  // 10,000 inserts autovacuum would vacuum the tables, ~400 MB of blobs included, in whatever pass came next:
  // CPU that is the load's, not the mix's).
  const analyzer = new pg.Client({ connectionString: pgServer.url });
  await analyzer.connect();
  await analyzer.query('VACUUM (ANALYZE)');
  await analyzer.end();
  log(`mailyard: warm-up (every envelope of every user, then VACUUM (ANALYZE)) in ${((performance.now() - w0) / 1000).toFixed(1)} s`);

  const processes = Number(env.IMAP_PROCESSES ?? 1);
  const result = { caps, imapProcesses: processes, process: processes > 1 ? `imap-server (a cluster primary and ${processes} Node processes)` : 'imap-server (one Node process)' };
  const postmasterPid = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const redisPid = JSON.parse(fs.readFileSync(path.join(dataDir, 'redis', 'server.json'), 'utf8')).pid;
  const cpu = () => ({
    imapServer: treeCpuSeconds(imap.pid), // with IMAP_PROCESSES > 1, the primary and its processes
    postgres: treeCpuSeconds(postmasterPid), // the postmaster, its live backends, and backends it reaped
    redis: cpuSeconds(redisPid),
    wholeMachine: systemCpu().busy, // includes other work on a shared machine
  });
  const statementsDb = statements ? new pg.Pool({ connectionString: pgServer.url, max: 1 }) : null;
  if (statementsDb) cleanups.push(() => statementsDb.end());
  return {
    result,
    port: imapPort,
    cpu,
    alive,
    async beforeMeasured() {
      if (statementsDb) await statementsDb.query('SELECT pg_stat_statements_reset()');
    },
    async afterMeasured(ops) {
      if (!statementsDb) return;
      // Per round of the mix: one SELECT, two STOREs, one APPEND ... per round (PLAN.mix).
      const rounds = ops.operations / OPS.length;
      ops.topStatements = await topStatements(statementsDb, rounds, { limit: Number(process.env.BENCH_TOP ?? 40), width: 200 });
      log(`mailyard: top statements of the measured passes (${rounds} rounds of the mix):`);
      for (const s of ops.topStatements) log(`  ${String(s.callsPerUnit).padStart(6)} calls/round ${String(s.meanUs).padStart(6)} µs/call ${String(s.usPerUnit).padStart(6)} µs/round  ${s.query}`);
    },
    async finish() {
      log('mailyard: IDLE wake over SMTP…');
      const mx = nodemailer.createTransport({ host: HOST, port: smtpPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity, name: 'client.source.test' });
      cleanups.push(() => mx.close());
      result.wake = await measureWake(imapPort, users[0], async (i) => {
        await mx.sendMail({ envelope: { from: 'probe@source.test', to: [users[0].address] }, raw: smallMessage(`wake-${i}`) });
        return { startedAt: performance.now() }; // sendMail resolves on the 250 after the message
      });
      mx.close();
      alive();
      log(`mailyard: wake p50 ${result.wake.fromStart.p50Ms} ms p99 ${result.wake.fromStart.p99Ms} ms; ${PLAN.idleConnections} idle connections…`);
      result.memory = await measureIdleMemory(imapPort, users, () => processTree(imap.pid));
      alive();
      result.wake.clock = 'SMTP 250 to the MX (nodemailer, one connection) -> "* N EXISTS" read by the IDLE client';
    },
  };
}

/** Waits until the IMAP greeting is read on `port`. */
async function waitForImap(port, child) {
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child && exited(child)) throw new Error(`server exited before listening on ${port}:\n${child.tail()}`);
    const c = rawImap(port);
    c.socket.on('error', () => {});
    try {
      await c.until(/^\* OK/, 2_000);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`no IMAP greeting on ${port}: ${err.message}`);
      await sleep(200);
    } finally {
      c.close();
    }
  }
}

/** Loading (not timed): the template Maildir's messages APPENDed to every user's INBOX with their flags and dates. */
async function appendTemplate(port, users, template) {
  const dir = path.join(template, 'cur');
  const messages = fs
    .readdirSync(dir)
    .sort()
    .map((name) => ({ raw: fs.readFileSync(path.join(dir, name)), flags: [...(name.split(':2,')[1] ?? '')].map((f) => ({ F: '\\Flagged', S: '\\Seen' })[f]).filter(Boolean), date: fs.statSync(path.join(dir, name)).mtime }));
  await pool(users, 10, async (user) => {
    const c = imapflow(port, user);
    c.on('error', () => {});
    await c.connect();
    for (const m of messages) await c.append('INBOX', m.raw, m.flags, m.date);
    await c.logout();
  });
}

/** Before timing: every user logs in once, selects INBOX and fetches every envelope (Dovecot builds its index here). */
async function warmUp(port, users) {
  await pool(users, PLAN.loginConcurrency, async (user) => {
    const c = imapflow(port, user);
    c.on('error', () => {});
    await c.connect();
    await c.mailboxOpen('INBOX');
    for await (const m of c.fetch('1:*', { flags: true, envelope: true })) void m;
    await c.logout();
  });
}

// ---------------------------------------------------------------------------------------------
// Dovecot: a private instance, own config under the run directory, never /etc/dovecot.

async function ensureDovecot() {
  if (fs.existsSync(DOVECOT) && fs.existsSync(path.join(path.dirname(DOVECOT_LDA), 'imap'))) return;
  log('installing dovecot-imapd (apt-get)…');
  await execFileP('apt-get', ['install', '-y', '--no-install-recommends', 'dovecot-imapd'], { timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/** Starts a private Dovecot over Maildir copies of the same messages, and warms it. @returns {Promise<Target>} */
async function startDovecot(runDir, template, users) {
  await ensureDovecot();
  const dir = path.join(runDir, 'dovecot');
  const mailRoot = path.join(dir, 'mail');
  fs.mkdirSync(mailRoot, { recursive: true });
  const port = await freePort();
  const { stdout: ids } = await execFileP('id', ['nobody']);
  const uid = /uid=(\d+)/.exec(ids)[1];
  const gid = /gid=(\d+)/.exec(ids)[1];
  fs.writeFileSync(path.join(dir, 'users'), users.map((u) => `${u.address}:{PLAIN}${u.password}:${uid}:${gid}::${path.join(mailRoot, u.address)}::`).join('\n') + '\n');
  const t0 = performance.now();
  for (const u of users) fs.cpSync(template, path.join(mailRoot, u.address, 'Maildir'), { recursive: true, preserveTimestamps: true });
  await execFileP('chown', ['-R', `${uid}:${gid}`, mailRoot]);
  log(`dovecot: ${users.length} Maildirs written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const processLimit = PLAN.idleConnections + PLAN.clients + 100;
  const settings = {
    process_limit: processLimit,
    mail_max_userip_connections: PLAN.idleConnections + PLAN.clients,
    default_client_limit: 4 * processLimit,
    default_vsz_limit: '1G',
  };
  const conf = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(
    conf,
    [
      '# Private benchmark instance (bench/imap.mjs); nothing here touches /etc/dovecot or the system service.',
      `instance_name = mailyard-bench-${path.basename(runDir)}`,
      `base_dir = ${path.join(dir, 'run')}`,
      `state_dir = ${path.join(dir, 'state')}`,
      `log_path = ${path.join(dir, 'dovecot.log')}`,
      'protocols = imap',
      `listen = ${HOST}`,
      'ssl = no',
      'disable_plaintext_auth = no',
      'auth_mechanisms = plain login',
      'mail_location = maildir:~/Maildir',
      'postmaster_address = postmaster@bench.test',
      'default_internal_user = dovecot',
      'default_login_user = dovenull',
      `default_client_limit = ${settings.default_client_limit}`,
      `default_vsz_limit = ${settings.default_vsz_limit}`,
      `passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u ${path.join(dir, 'users')}\n}`,
      `userdb {\n  driver = passwd-file\n  args = username_format=%u ${path.join(dir, 'users')}\n}`,
      `service imap-login {\n  inet_listener imap {\n    address = ${HOST}\n    port = ${port}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n  process_limit = ${processLimit}\n}`,
      `service imap {\n  process_limit = ${processLimit}\n}`,
      // COMPRESS=DEFLATE as Mailyard offers it: imapflow (like other clients) turns it on when offered.
      `protocol imap {\n  mail_max_userip_connections = ${settings.mail_max_userip_connections}\n  mail_plugins = $mail_plugins imap_zlib\n}`,
      '',
    ].join('\n'),
  );
  // -F: the master stays in the foreground as our child, so it is stopped by its PID (it stops its services).
  const master = startChild(DOVECOT, ['-F', '-c', conf], { cwd: dir, logFile: path.join(dir, 'master.out') });
  cleanups.push(() => stopPid(master, 'SIGTERM', 20_000));
  await waitForImap(port, master);
  const alive = () => {
    if (exited(master)) throw new Error(`dovecot exited:\n${master.tail()}`);
  };
  const w0 = performance.now();
  await warmUp(port, users);
  log(`dovecot: warm-up (every envelope of every user) in ${((performance.now() - w0) / 1000).toFixed(1)} s`);

  const result = { settings, process: 'dovecot master + its services: imap-login (one per connection until login), one imap process per connection, auth, anvil, log, config, stats' };
  const cpu = () => ({
    // The master, every process under it (one imap per connection, imap-login, auth ...), and reaped ones.
    dovecot: processTree(master.pid).reduce((n, pid) => n + (cpuSeconds(pid, true) ?? 0), 0),
    wholeMachine: systemCpu().busy,
  });
  return {
    result,
    port,
    cpu,
    alive,
    async finish() {
      log('dovecot: IDLE wake via dovecot-lda…');
      result.wake = await measureWake(port, users[0], async (i) => {
        const startedAt = performance.now();
        const lda = spawn(DOVECOT_LDA, ['-c', conf, '-d', users[0].address, '-f', 'probe@source.test'], { stdio: ['pipe', 'ignore', 'pipe'] });
        let stderr = '';
        lda.stderr.on('data', (d) => (stderr += d));
        lda.stdin.end(smallMessage(`wake-${i}`));
        const code = await new Promise((resolve) => lda.once('exit', resolve));
        if (code !== 0) throw new Error(`dovecot-lda exited ${code}: ${stderr}`);
        return { startedAt, deliveredAt: performance.now() };
      });
      result.wake.clock = 'dovecot-lda started with the message (the clock) and exited (fromDelivered) -> "* N EXISTS" read by the IDLE client';
      alive();
      log(`dovecot: wake p50 ${result.wake.fromStart.p50Ms} ms p99 ${result.wake.fromStart.p99Ms} ms; ${PLAN.idleConnections} idle connections…`);
      result.memory = await measureIdleMemory(port, users, () => processTree(master.pid));
      alive();
    },
  };
}

// ---------------------------------------------------------------------------------------------

function printTable(results) {
  const rows = Object.entries(results.targets ?? {});
  console.log(`\nIMAP load: ${PLAN.users} users × ${PLAN.messagesPerUser} messages; ${PLAN.clients} clients × ${PLAN.iterations} rounds of ${OPS.length} commands; ${PLAN.idleConnections} idle connections; ${PLAN.wakeMessages} wake messages`);
  const cell = (v, w = 10) => String(v ?? '—').padStart(w);
  console.log(`${'target'.padEnd(10)}${cell('ops/s')}${cell('wake p50')}${cell('wake p99')}${cell('idle conns')}${cell('kB/conn')}${cell('PSS kB/c')}`);
  for (const [name, r] of rows) {
    if (r.error) {
      console.log(`${name.padEnd(10)} failed: ${r.error.split('\n')[0]}`);
      continue;
    }
    console.log(`${name.padEnd(10)}${cell(r.ops?.opsPerSecond)}${cell(r.wake?.fromStart?.p50Ms)}${cell(r.wake?.fromStart?.p99Ms)}${cell(r.memory?.open)}${cell(r.memory?.rssKbPerConnection)}${cell(r.memory?.pssKbPerConnection)}`);
  }
  const cold = rows.filter(([, r]) => r.opsCold);
  const measured = rows.filter(([, r]) => r.ops?.opsPerSecondPerPass);
  if (measured.length) console.log(`measured passes (A B B A …), ops/s each: ${measured.map(([name, r]) => `${name} ${r.ops.opsPerSecondPerPass.join(' / ')}`).join('; ')}`);
  if (cold.length) console.log(`cold pass first (${PLAN.warmupIterations} rounds per client, other choices; not judged): ${cold.map(([name, r]) => `${name} ${r.opsCold.opsPerSecond} ops/s, CPU ms/op ${JSON.stringify(r.opsCold.cpuMsPerOperation)}`).join('; ')}`);
  console.log(`\nCPU ms per operation (operations phase): ${rows.map(([name, r]) => `${name} ${JSON.stringify(r.ops?.cpuMsPerOperation ?? null)}`).join('; ')}`);
  console.log(`\nper-command latency p50 / p99 (ms):`);
  console.log(`${''.padEnd(14)}${rows.map(([name]) => name.padStart(18)).join('')}`);
  for (const op of OPS) console.log(`${op.padEnd(14)}${rows.map(([, r]) => (r.ops ? `${r.ops.perOp[op].p50Ms} / ${r.ops.perOp[op].p99Ms}` : '—').padStart(18)).join('')}`);
  if (results.verdict) console.log(`\ntargets: ${JSON.stringify(results.verdict)}`);
}

/** The issue's targets, where both figures exist. */
function verdict(targets) {
  const m = targets.mailyard;
  const d = targets.dovecot;
  const out = {};
  if (m?.ops && d?.ops) {
    out.opsPerSecondAtLeastDovecot = m.ops.opsPerSecond >= d.ops.opsPerSecond;
    out.opsRatio = round(m.ops.opsPerSecond / d.ops.opsPerSecond, 2);
    // Pass k of one against pass k of the other (they ran next to each other).
    out.opsRatioPerPass = m.ops.opsPerSecondPerPass.map((ops, k) => round(ops / d.ops.opsPerSecondPerPass[k], 2));
  }
  if (m?.memory?.rssKbPerConnection != null && d?.memory?.rssKbPerConnection) out.memoryPerConnectionAtMost2xDovecot = m.memory.rssKbPerConnection <= 2 * d.memory.rssKbPerConnection;
  if (m?.wake?.fromStart) out.idleWakeP99Under500Ms = m.wake.fromStart.p99Ms < TARGETS.idleWakeP99Ms;
  return out;
}

async function main() {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  fs.mkdirSync(DATA_ROOT, { recursive: true });
  pruneOldRuns(DATA_ROOT, 'run-imap-', (dir) => [path.join(dir, 'mailyard', 'postgres', 'postmaster.pid'), path.join(dir, 'dovecot', 'run', 'master.pid')]);
  const runDir = path.join(DATA_ROOT, `run-imap-${stamp}`);
  fs.mkdirSync(runDir, { recursive: true });
  const results = { startedAt: startedAt.toISOString(), command: 'npm run bench:imap  (= npm run build && node bench/imap.mjs)', plan: PLAN, targetsWanted: TARGETS, machine: machineInfo(), targets: {} };
  let failure = null;
  try {
    const template = path.join(runDir, 'template-maildir');
    results.plan.messageBytesPerUser = writeTemplateMaildir(template);
    const users = Array.from({ length: PLAN.users }, (_, i) => ({ address: userAddress(i + 1), password: `pw${randomBytes(9).toString('hex')}` }));
    // Both servers are started and loaded first, then measured in turn: the cold passes, then
    // PLAN.passes measured passes in A B B A … order (this machine's speed drifts by ±20 % over
    // minutes; alternating gives both the same share of it), then each one's wake and memory.
    /** @type {Array<Target & { name: string, passes: object[] }>} */
    let running = [];
    const step = async (target, what, fn) => {
      try {
        await fn();
        target.alive();
      } catch (err) {
        failure ??= err;
        log(`${target.name}: ${what} failed: ${err.message}`);
        results.targets[target.name] = { ...target.result, error: err.stack ?? String(err) };
        running = running.filter((t) => t !== target);
      }
    };
    for (const [name, start] of [['mailyard', startMailyard], ['dovecot', startDovecot]]) {
      if (!wanted(name)) continue;
      log(`${name}…`);
      try {
        const target = { name, passes: [], ...(await start(runDir, template, users)) };
        results.targets[name] = target.result;
        running.push(target);
      } catch (err) {
        failure ??= err;
        results.targets[name] = { error: err.stack ?? String(err) };
      }
    }
    for (const t of running) await step(t, 'the cold pass', async () => (t.result.opsCold = await coldPass(t.port, users, t.cpu, t.name)));
    for (const t of running) await step(t, 'preparing the measured passes', async () => t.beforeMeasured?.());
    for (let p = 0; p < PLAN.passes; p++) {
      for (const t of p % 2 === 0 ? [...running] : [...running].reverse()) {
        await step(t, `measured pass ${p + 1}`, async () => {
          const pass = await measureOps(t.port, users, t.cpu, { seed: 1 + 100 * p });
          t.passes.push(pass);
          log(`${t.name}: measured pass ${p + 1} of ${PLAN.passes}: ${pass.opsPerSecond} ops/s`);
        });
      }
    }
    for (const t of running) {
      await step(t, 'combining the passes', async () => {
        t.result.ops = combinePasses(t.passes);
        t.result.ops.opsPerSecondPerPass = t.passes.map((p) => p.opsPerSecond);
        t.result.ops.cpuMsPerOperationPerPass = t.passes.map((p) => p.cpuMsPerOperation);
        await t.afterMeasured?.(t.result.ops);
        log(`${t.name}: ${t.result.ops.opsPerSecond} ops/s over ${t.passes.length} passes`);
      });
    }
    for (const t of running) await step(t, 'IDLE wake and memory', () => t.finish());
    results.verdict = verdict(results.targets);
  } catch (err) {
    failure = err;
    results.error = err.stack ?? String(err);
  } finally {
    log('stopping everything this benchmark started…');
    await runCleanups('bench');
  }
  results.finishedAt = new Date().toISOString();
  finishRun({ root: ROOT, resultsDir: RESULTS, fileName: `imap-${stamp}.json`, results, printTable, runDir, failure, kept: 'databases, Maildirs, service logs' });
}

await main();
