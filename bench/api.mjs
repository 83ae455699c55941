#!/usr/bin/env node
// HTTP API benchmark: list pages, search (13 target kinds + diagnostic kinds, each with the EXPLAIN of
// every statement it runs) and SSE fan-out (1,000 streams of one user, then 1,000 users with one
// stream each) against the real backend process (`node backend/dist/main.js`) on a private
// PostgreSQL + Redis, on ONE mailbox of generated mail.
// Plain Node ESM; run after `npm run build` (or `npm run bench:api`, which builds first).
//
//   node bench/api.mjs                       # 100,000 messages
//   BENCH_MESSAGES=20000 node bench/api.mjs  # smaller mailbox (quick check)
//   BENCH_1M=1 ...                           # afterwards grow the mailbox to 1,000,000 and search again
//   BENCH_KEEP=1 ...                         # keep bench/.data/api-* afterwards
//
// Messages are generated with set-based SQL (one INSERT ... SELECT generate_series per batch,
// see bench/generate-messages.mjs), never through ingest. Every process started here is stopped by PID in
// a finally block; nothing outside bench/.data is written except bench/results/api-<timestamp>.json.
import { execFile } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { Redis } from 'ioredis';
import { Kysely, PostgresDialect } from 'kysely';
import { freePort, startLocalPostgres, startLocalRedis } from '../core/dist/local/index.js';
import { createSearchRepository, parseSearchQuery } from '../core/dist/index.js';
import { generateMessages } from './generate-messages.mjs';
import { cleanups, exited, machineInfo, memoryKb, percentile, round, runCleanups, sleep, startChild, stopPid } from './lib.mjs';

const execFileP = promisify(execFile);
const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, '..');
const DATA_ROOT = path.join(BENCH, '.data');
const RESULTS = path.join(BENCH, 'results');
const HOST = '127.0.0.1';

const PLAN = {
  messages: Number(process.env.BENCH_MESSAGES ?? 100_000),
  grow1M: process.env.BENCH_1M === '1',
  insertBatch: 50_000,
  list: { limit: 50, firstPageRuns: 300, walkToPage: 1000, deepPagesTimed: 300 },
  search: { runsPerKind: 25, limit: 50 },
  sse: { connections: 1000, latencyEvents: 100, latencyRatePerSecond: 10, burstEvents: 200, distinctUsers: 1000, usersLatencyEvents: 1000, usersLatencyRatePerSecond: 100, usersBurstRounds: 50, waitMs: 60_000, connectTimeoutMs: 60_000 },
  requestTimeoutMs: 30_000,
  user: 'user@bench.test',
};
const TARGETS = { listPageP99Ms100k: 20, searchP95Ms1M: 100 };

/** Search kinds: the query as typed in the web UI. A bare last word is matched as a prefix (search as you type). */
const SEARCH_KINDS = [
  ['common word', 'meeting'],
  ['rare word', 'zanzibar'],
  ['phrase', '"quarterly report"'],
  ['from:', 'from:alice'],
  ['from: non-ASCII', 'from:müller'],
  ['subject:', 'subject:invoice'],
  ['has:attachment', 'has:attachment'],
  ['is:unread', 'is:unread'],
  ['in:inbox + word', 'in:inbox budget'],
  ['date range', 'after:2025-03-01 before:2025-03-15'],
  ['non-Latin word (Cyrillic)', 'отчёт'],
  ['non-Latin word (Japanese)', '会議'],
  ['two words', 'project deadline'],
];

/**
 * Not part of the target: harder cases, measured to show where search is still slow. A word in a few
 * per cent of the mail (too common for the GIN index to fetch every match, too rare for a short
 * walk), a sender plus a common word, a subject phrase, and searches that find nothing.
 */
const DIAGNOSTIC_SEARCH_KINDS = [
  ['word in ~4 % (German body)', 'übersicht'],
  ['word in ~4 % (Greek subject)', 'ενημέρωση'],
  ['from: + common word', 'from:alice meeting'],
  ['subject: phrase', 'subject:"quarterly report"'],
  ['no match: word', 'qwertyuiop'],
  ['no match: from:', 'from:nobody@nowhere.test'],
  ['no match: subject:', 'subject:zanzibar'],
];

const log = (...args) => console.log(`[bench-api +${(performance.now() / 1000).toFixed(1)}s]`, ...args);

function summary(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: round(percentile(s, 50), 2), p95: round(percentile(s, 95), 2), p99: round(percentile(s, 99), 2), max: round(s.at(-1), 2), min: round(s[0], 2) };
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping (as in smtp-ingest.mjs): every child is recorded and stopped by PID.





let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`\n[bench-api] ${signal}: stopping everything this benchmark started…`);
    void runCleanups('bench-api').finally(() => process.exit(130));
  });
}


// ---------------------------------------------------------------------------------------------
// HTTP helpers: one keep-alive agent for sequential requests (like a browser tab).

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
cleanups.push(async () => agent.destroy());

function request(port, method, urlPath, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path: urlPath, agent, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, timeout: PLAN.requestTimeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

async function timedGet(port, urlPath, cookie) {
  const t0 = performance.now();
  const res = await request(port, 'GET', urlPath, { headers: { cookie } });
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`GET ${urlPath}: ${res.status} ${res.text.slice(0, 300)}`);
  return { ms, json: JSON.parse(res.text) };
}

async function waitForHttp(port, child, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`backend exited before listening:\n${child.tail()}`);
    try {
      const res = await request(port, 'GET', '/api/auth/me');
      if (res.status) return;
    } catch {
      /* not yet */
    }
    await sleep(200);
  }
  throw new Error(`backend did not answer on ${port} within ${timeoutMs} ms:\n${child.tail()}`);
}

// ---------------------------------------------------------------------------------------------
// 1. List pages.

async function benchList(port, cookie, mailboxId) {
  const base = `/api/mailboxes/${mailboxId}/messages?limit=${PLAN.list.limit}`;
  for (let i = 0; i < 20; i++) await timedGet(port, base, cookie); // warm-up
  const first = [];
  for (let i = 0; i < PLAN.list.firstPageRuns; i++) first.push((await timedGet(port, base, cookie)).ms);
  log(`list first page: ${JSON.stringify(summary(first))}`);

  const walk = [];
  let cursor = null;
  let page = 1;
  const t0 = performance.now();
  while (page < PLAN.list.walkToPage && performance.now() - t0 < 300_000) {
    const r = await timedGet(port, `${base}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, cookie);
    walk.push(r.ms);
    cursor = r.json.nextCursor;
    if (!cursor) break;
    page += 1;
  }
  log(`list walked to page ${page} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const deep = [];
  let lastPage = page;
  for (let i = 0; i < PLAN.list.deepPagesTimed && cursor; i++) {
    const r = await timedGet(port, `${base}&cursor=${encodeURIComponent(cursor)}`, cookie);
    deep.push(r.ms);
    cursor = r.json.nextCursor;
    lastPage += 1;
  }
  // The same deep cursor again and again (no page walking between): the index seek alone.
  const sameDeep = [];
  if (cursor) for (let i = 0; i < 200; i++) sameDeep.push((await timedGet(port, `${base}&cursor=${encodeURIComponent(cursor)}`, cookie)).ms);
  log(`list deep pages ${page + 1}..${lastPage}: ${JSON.stringify(summary(deep))}`);
  return {
    method: `sequential GET ${base}[&cursor=] over one keep-alive connection; first page ${PLAN.list.firstPageRuns}× after 20 warm-ups; then walked nextCursor to page ${page} and timed the next ${deep.length} pages; then the page-${lastPage + 1} cursor 200× more`,
    firstPageMs: summary(first),
    walkMs: summary(walk),
    deepPagesMs: { fromPage: page + 1, toPage: lastPage, ...summary(deep) },
    sameDeepCursorMs: { page: lastPage + 1, ...summary(sameDeep) },
  };
}

// ---------------------------------------------------------------------------------------------
// 2. Search, plus the exact SQL of each kind under EXPLAIN ANALYZE.

async function benchSearch(port, cookie, label, list = SEARCH_KINDS) {
  const kinds = {};
  for (const [kind, q] of list) {
    const url = `/api/search?q=${encodeURIComponent(q)}&limit=${PLAN.search.limit}`;
    const first = await timedGet(port, url, cookie); // warm-up; also the hit count of page 1
    const times = [];
    const t0 = performance.now();
    for (let i = 0; i < PLAN.search.runsPerKind && performance.now() - t0 < 60_000; i++) times.push((await timedGet(port, url, cookie)).ms);
    kinds[kind] = { q, firstPageHits: first.json.messages.length, hasMore: first.json.nextCursor !== null, ...summary(times) };
    log(`search ${label} ${kind.padEnd(26)} ${JSON.stringify(kinds[kind])}`);
  }
  return kinds;
}

/** The open SSE requests of a phase (closed by `closeAll`, also on cleanup) and a Redis publisher. */
async function sseHarness(redisUrl) {
  const reqs = [];
  const closeAll = async () => {
    for (const r of reqs) r.destroy();
    reqs.length = 0;
  };
  cleanups.push(closeAll);
  const pub = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  cleanups.push(async () => pub.disconnect());
  await pub.connect();
  return { reqs, closeAll, pub };
}

/**
 * Runs the search repository on a capturing Kysely, then EXPLAIN (ANALYZE, BUFFERS) on every
 * statement it ran (a search runs several: the user's folders, the walks in date order, the list
 * columns of the page), in order. executionMs is their sum.
 */
async function explainSearches(dbUrl, userId, list = SEARCH_KINDS) {
  const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
  const captured = [];
  const kysely = new Kysely({ dialect: new PostgresDialect({ pool }), log: (e) => captured.push({ sql: e.query.sql, parameters: e.query.parameters }) });
  const repo = createSearchRepository(kysely);
  const plans = {};
  try {
    for (const [kind, q] of list) {
      captured.length = 0;
      await repo.search(userId, parseSearchQuery(q), { limit: PLAN.search.limit });
      const statements = [];
      for (const { sql, parameters } of [...captured]) {
        const { rows } = await pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, parameters);
        const lines = rows.map((r) => r['QUERY PLAN']);
        const indexes = [...new Set(lines.flatMap((l) => [...l.matchAll(/(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)/g)].map((m) => m[1])))];
        const seqScans = [...new Set(lines.flatMap((l) => [...l.matchAll(/Seq Scan on (\w+)/g)].map((m) => m[1])))];
        const exec = lines.find((l) => l.startsWith('Execution Time'));
        statements.push({ executionMs: exec ? Number(/([\d.]+) ms/.exec(exec)[1]) : null, indexes, seqScans, sql, parameters, plan: lines });
      }
      plans[kind] = {
        q,
        executionMs: round(statements.reduce((t, st) => t + (st.executionMs ?? 0), 0), 3),
        indexes: [...new Set(statements.flatMap((st) => st.indexes))],
        seqScans: [...new Set(statements.flatMap((st) => st.seqScans))],
        statements,
      };
    }
  } finally {
    await kysely.destroy();
  }
  return plans;
}

// ---------------------------------------------------------------------------------------------
// 3. SSE fan-out.

function openSse(port, cookie, onEvent) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method: 'GET', path: '/api/events', agent: false, headers: { cookie, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`SSE: ${res.statusCode}`));
        return;
      }
      let buf = '';
      let ready = false;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let idx;
        while ((idx = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, idx);
          buf = buf.slice(idx + 2);
          if (!ready && frame.startsWith('retry:')) {
            ready = true;
            resolve(req);
            continue;
          }
          const id = /^id: (\d+)$/m.exec(frame);
          if (id) onEvent(Number(id[1]));
        }
      });
      res.on('error', () => undefined);
    });
    req.setTimeout(PLAN.sse.connectTimeoutMs, () => req.destroy(new Error('SSE connect timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function benchSse({ port, cookie, redisUrl, db, userId, mailboxId, backendPid }) {
  const { connections, latencyEvents, latencyRatePerSecond, burstEvents, waitMs } = PLAN.sse;
  const sentAt = new Map(); // modseq -> publish time
  const received = new Map(); // modseq -> count
  const latencies = [];
  let totalReceived = 0;
  let lastReceivedAt = 0;
  const onEvent = (modseq) => {
    const now = performance.now();
    totalReceived += 1;
    lastReceivedAt = now;
    received.set(modseq, (received.get(modseq) ?? 0) + 1);
    const t = sentAt.get(modseq);
    if (t !== undefined) latencies.push(now - t);
  };
  const { reqs, closeAll, pub } = await sseHarness(redisUrl);

  const memBefore = memoryMb(backendPid);
  const tOpen = performance.now();
  // Open in waves of 100 so the backend's accept queue is not the thing measured.
  for (let i = 0; i < connections && performance.now() - tOpen < PLAN.sse.connectTimeoutMs; i += 100) {
    const wave = await Promise.all(Array.from({ length: Math.min(100, connections - i) }, () => openSse(port, cookie, onEvent)));
    reqs.push(...wave);
  }
  const openSeconds = (performance.now() - tOpen) / 1000;
  log(`SSE: ${reqs.length} streams open in ${openSeconds.toFixed(1)} s`);
  await sleep(1000);
  const memOpen = memoryMb(backendPid);

  // Each event gets a real modseq: a changes row (message.flags) and users.modseq moved on.
  const { rows } = await db.query('SELECT modseq::bigint AS m FROM users WHERE id = $1', [userId]);
  let modseq = Number(rows[0].m);
  const target = await db.query('SELECT id::bigint AS id, uid::bigint AS uid FROM messages WHERE mailbox_id = $1 ORDER BY uid DESC LIMIT 1', [mailboxId]);
  const msg = { id: Number(target.rows[0].id), uid: Number(target.rows[0].uid) };
  const reserve = latencyEvents + burstEvents;
  await db.query(
    `INSERT INTO changes (user_id, modseq, kind, mailbox_id, message_id, uid, payload)
     SELECT $1, $2 + g, 'message.flags', $3, $4, $5, '{"flags":["\\\\Seen"]}'::jsonb FROM generate_series(1, $6::int) g`,
    [userId, modseq, mailboxId, msg.id, msg.uid, reserve],
  );
  await db.query('UPDATE users SET modseq = $2 WHERE id = $1', [userId, modseq + reserve]);
  const publish = async () => {
    modseq += 1;
    const event = { type: 'message.flags', modseq, mailboxId, messageId: msg.id, uid: msg.uid, flags: ['\\Seen'] };
    sentAt.set(modseq, performance.now());
    await pub.publish(`user:${userId}`, JSON.stringify(event));
  };
  const waitAll = async (count) => {
    const deadline = performance.now() + waitMs;
    while (totalReceived < count && performance.now() < deadline) await sleep(20);
  };

  // a. Latency at a fixed, modest rate.
  const open = reqs.length;
  const tLat = performance.now();
  for (let i = 0; i < latencyEvents; i++) {
    const due = tLat + (i * 1000) / latencyRatePerSecond;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    await publish();
  }
  await waitAll(open * latencyEvents);
  const latencyPhase = { events: latencyEvents, ratePerSecond: latencyRatePerSecond, expectedDeliveries: open * latencyEvents, delivered: totalReceived, deliveryMs: summary(latencies) };
  log(`SSE latency phase: ${JSON.stringify(latencyPhase)}`);

  // b. Burst: publish as fast as Redis takes it, measure deliveries per second across all clients.
  const before = totalReceived;
  latencies.length = 0;
  const tBurst = performance.now();
  for (let i = 0; i < burstEvents; i++) await publish();
  const publishSeconds = (performance.now() - tBurst) / 1000;
  await waitAll(before + open * burstEvents);
  const delivered = totalReceived - before;
  const seconds = (lastReceivedAt - tBurst) / 1000;
  const burstPhase = {
    events: burstEvents,
    publishSeconds: round(publishSeconds, 3),
    expectedDeliveries: open * burstEvents,
    delivered,
    secondsToLastDelivery: round(seconds, 2),
    deliveriesPerSecond: round(delivered / seconds, 0),
    eventsPerSecondToAllClients: round(delivered / open / seconds, 1),
    deliveryMs: summary(latencies),
  };
  log(`SSE burst phase: ${JSON.stringify({ ...burstPhase, deliveryMs: burstPhase.deliveryMs })}`);
  const memAfter = memoryMb(backendPid);
  await closeAll();
  await sleep(1000);
  return {
    method: `${open} streams of ONE user's session (one cookie), GET /api/events over ${open} separate TCP connections from this script (same process parses all frames); events published on Redis user:<id> as message.flags with consecutive modseqs (matching changes rows inserted); latency = client receive time − publish time`,
    connectionsRequested: connections,
    connectionsOpen: open,
    openSeconds: round(openSeconds, 2),
    latencyPhase,
    burstPhase,
    backendMemory: { beforeOpen: memBefore, allOpen: memOpen, afterEvents: memAfter },
  };
}

/**
 * SSE with DISTINCT users: one stream each for `PLAN.sse.distinctUsers` users, so the backend's hub
 * holds one Redis SUBSCRIBE per user on its shared subscriber connection, and every event goes to
 * one stream. Users and sessions are inserted straight into the database: the bench user's domain
 * and password hash, and per user a session row with the SHA-256 of a random token, as
 * core/src/auth/session.service.ts stores it (the token is the cookie).
 */
async function benchSseUsers({ port, redisUrl, db, userId, backendPid }) {
  const { distinctUsers: count, usersLatencyEvents, usersLatencyRatePerSecond, usersBurstRounds, waitMs, connectTimeoutMs } = PLAN.sse;
  const { rows: [me] } = await db.query('SELECT domain_id, password_hash FROM users WHERE id = $1', [userId]);
  const ids = (await db.query(`INSERT INTO users (domain_id, address, password_hash) SELECT $1, 'sse-' || g || '@bench.test', $2 FROM generate_series(1, $3::int) g RETURNING id`, [me.domain_id, me.password_hash, count])).rows.map((r) => Number(r.id));
  const tokens = ids.map(() => randomBytes(32).toString('base64url'));
  await db.query(`INSERT INTO sessions (user_id, token_hash, csrf_token, expires_at) SELECT u, h, 'bench', now() + interval '1 day' FROM unnest($1::bigint[], $2::bytea[]) AS t(u, h)`, [ids, tokens.map((t) => createHash('sha256').update(t).digest())]);

  const sentAt = new Map(); // `${user}:${modseq}` -> publish time
  const latencies = [];
  let totalReceived = 0;
  let lastReceivedAt = 0;
  const onEvent = (user) => (modseq) => {
    const now = performance.now();
    totalReceived += 1;
    lastReceivedAt = now;
    const t = sentAt.get(`${user}:${modseq}`);
    if (t !== undefined) latencies.push(now - t);
  };
  const { reqs, closeAll, pub } = await sseHarness(redisUrl);

  const memBefore = memoryMb(backendPid);
  const tOpen = performance.now();
  for (let i = 0; i < count && performance.now() - tOpen < connectTimeoutMs; i += 100) {
    const wave = await Promise.all(ids.slice(i, i + 100).map((id, k) => openSse(port, `mailyard_session=${tokens[i + k]}`, onEvent(id))));
    reqs.push(...wave);
  }
  const open = reqs.length;
  const openSeconds = (performance.now() - tOpen) / 1000;
  log(`SSE (distinct users): ${open} streams open in ${openSeconds.toFixed(1)} s`);
  await sleep(1000);
  const memOpen = memoryMb(backendPid);

  const modseqs = new Map(ids.map((id) => [id, 0]));
  const event = (user) => {
    const modseq = modseqs.get(user) + 1;
    modseqs.set(user, modseq);
    sentAt.set(`${user}:${modseq}`, performance.now());
    return JSON.stringify({ type: 'message.flags', modseq, mailboxId: 1, messageId: 1, uid: 1, flags: ['\\Seen'] });
  };
  const waitAll = async (n) => {
    const deadline = performance.now() + waitMs;
    while (totalReceived < n && performance.now() < deadline) await sleep(20);
  };

  // a. Latency at a fixed rate, each event to the next user in turn.
  const tLat = performance.now();
  for (let i = 0; i < usersLatencyEvents; i++) {
    const wait = tLat + (i * 1000) / usersLatencyRatePerSecond - performance.now();
    if (wait > 0) await sleep(wait);
    const user = ids[i % open];
    await pub.publish(`user:${user}`, event(user));
  }
  await waitAll(usersLatencyEvents);
  const latencyPhase = { events: usersLatencyEvents, ratePerSecond: usersLatencyRatePerSecond, delivered: totalReceived, deliveryMs: summary(latencies) };
  log(`SSE (distinct users) latency phase: ${JSON.stringify(latencyPhase)}`);

  // b. Burst: every user gets `usersBurstRounds` events, published as fast as Redis takes them (pipelined, 1,000 per batch).
  const before = totalReceived;
  latencies.length = 0;
  const tBurst = performance.now();
  for (let r = 0; r < usersBurstRounds; r++) {
    const batch = pub.pipeline();
    for (const user of ids.slice(0, open)) batch.publish(`user:${user}`, event(user));
    await batch.exec();
  }
  const publishSeconds = (performance.now() - tBurst) / 1000;
  const expected = usersBurstRounds * open;
  await waitAll(before + expected);
  const delivered = totalReceived - before;
  const seconds = (lastReceivedAt - tBurst) / 1000;
  const burstPhase = { events: expected, publishSeconds: round(publishSeconds, 2), delivered, secondsToLastDelivery: round(seconds, 2), deliveriesPerSecond: round(delivered / seconds, 0), deliveryMs: summary(latencies) };
  log(`SSE (distinct users) burst phase: ${JSON.stringify(burstPhase)}`);
  const memAfter = memoryMb(backendPid);
  await closeAll();
  await sleep(1000);
  return {
    method: `${open} users, one GET /api/events stream each (own session cookie, own TCP connection), so ${open} Redis channels user:<id>; events published as message.flags to one user each (latency = client receive time − publish time); users and sessions inserted by SQL`,
    usersRequested: count,
    streamsOpen: open,
    openSeconds: round(openSeconds, 2),
    latencyPhase,
    burstPhase,
    backendMemory: { beforeOpen: memBefore, allOpen: memOpen, afterEvents: memAfter },
  };
}

// ---------------------------------------------------------------------------------------------


function writeResults(results, stamp) {
  fs.mkdirSync(RESULTS, { recursive: true });
  const out = path.join(RESULTS, `api-${stamp}.json`);
  fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  return out;
}

/** Resident memory of a process in MB. */
function memoryMb(pid) {
  const { vmHWMKb, vmRSSKb } = memoryKb(pid);
  return { vmRSSMb: vmRSSKb === null ? null : round(vmRSSKb / 1024, 0), vmHWMMb: vmHWMKb === null ? null : round(vmHWMKb / 1024, 0) };
}

async function main() {
  for (const f of ['backend/dist/main.js', 'core/dist/index.js', 'core/dist/cli/main.js']) {
    if (!fs.existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first (or \`npm run bench:api\`)`);
  }
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const runDir = path.join(DATA_ROOT, `api-${stamp}`);
  fs.mkdirSync(runDir, { recursive: true });
  const results = { startedAt: startedAt.toISOString(), command: 'npm run bench:api  (= npm run build && node bench/api.mjs)', plan: PLAN, targets: TARGETS, machine: machineInfo() };
  let failure = null;
  try {
    const dataDir = path.join(runDir, 'mailyard');
    fs.mkdirSync(dataDir, { recursive: true });
    log(`run directory ${path.relative(ROOT, runDir)}; starting private PostgreSQL and Redis…`);
    const pgServer = await startLocalPostgres({ dataDir });
    cleanups.push(() => pgServer.stop());
    const redisServer = await startLocalRedis({ dataDir, persistent: true });
    cleanups.push(() => redisServer.stop());
    const db = new pg.Pool({ connectionString: pgServer.url, max: 3 });
    cleanups.push(() => db.end());
    results.postgres = Object.fromEntries((await db.query(`SELECT name, setting FROM pg_settings WHERE name IN ('server_version','shared_buffers','work_mem','effective_cache_size','random_page_cost','jit','lc_ctype')`)).rows.map((r) => [r.name, r.setting]));

    const baseEnv = { ...process.env, DATABASE_URL: pgServer.url, REDIS_URL: redisServer.url, DATA_DIR: dataDir, LOG_LEVEL: 'warn', NODE_ENV: 'production' };
    const cli = (...args) => execFileP(process.execPath, [path.join(ROOT, 'bin', 'mailyard.mjs'), ...args], { cwd: ROOT, env: baseEnv, timeout: 60_000 });
    const password = `p${randomBytes(12).toString('base64url')}`; // never a leading '-' (the CLI would read an option)
    await cli('domain', 'add', 'bench.test');
    await cli('user', 'add', PLAN.user, '--password', password);
    const userId = Number((await db.query('SELECT id FROM users WHERE address = $1', [PLAN.user])).rows[0].id);
    const mailboxId = Number((await db.query(`SELECT id FROM mailboxes WHERE user_id = $1 AND special_use = '\\Inbox'`, [userId])).rows[0].id);

    log(`generating ${PLAN.messages} messages into mailbox ${mailboxId}…`);
    results.generation = { method: 'INSERT ... SELECT generate_series in batches of 50,000 rows straight into messages (one shared blob), then mailbox/user counters, thread_ids setval, ANALYZE + VACUUM (ANALYZE); see messageInsertSql() in bench/generate-messages.mjs', ...(await generateMessages(db, { userId, mailboxId, address: PLAN.user, batch: PLAN.insertBatch, log, from: 1, to: PLAN.messages })) };
    results.generation.tableSize = (await db.query(`SELECT pg_size_pretty(pg_total_relation_size('messages')) AS total, pg_size_pretty(pg_total_relation_size('message_search')) AS search, pg_size_pretty(pg_relation_size('message_search_vector')) AS gin`)).rows[0];
    log(`generated: ${JSON.stringify(results.generation)}`);

    const httpPort = await freePort();
    const backend = startChild(process.execPath, [path.join(ROOT, 'backend', 'dist', 'main.js')], {
      cwd: ROOT,
      env: { ...baseEnv, HTTP_PORT: String(httpPort), HTTPS_PORT: '0', BIND_ADDRESS: HOST },
      logFile: path.join(runDir, 'backend.log'),
    });
    cleanups.push(() => stopPid(backend, 'SIGTERM', 20_000));
    await waitForHttp(httpPort, backend);
    const memory = { afterStart: memoryMb(backend.pid) };
    const login = await request(httpPort, 'POST', '/api/auth/login', { body: { address: PLAN.user, password } });
    if (login.status !== 200) throw new Error(`login: ${login.status} ${login.text}`);
    const cookie = [].concat(login.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ');

    results.list = await benchList(httpPort, cookie, mailboxId);
    memory.afterList = memoryMb(backend.pid);
    results.search = { messages: PLAN.messages, runsPerKind: PLAN.search.runsPerKind, kinds: await benchSearch(httpPort, cookie, `${PLAN.messages / 1000}k`) };
    results.search.diagnosticKinds = await benchSearch(httpPort, cookie, `${PLAN.messages / 1000}k diagnostic`, DIAGNOSTIC_SEARCH_KINDS);
    results.search.explain = await explainSearches(pgServer.url, userId);
    results.search.diagnosticExplain = await explainSearches(pgServer.url, userId, DIAGNOSTIC_SEARCH_KINDS);
    memory.afterSearch = memoryMb(backend.pid);
    results.sse = await benchSse({ port: httpPort, cookie, redisUrl: redisServer.url, db, userId, mailboxId, backendPid: backend.pid });
    memory.afterSse = memoryMb(backend.pid);
    results.sseDistinctUsers = await benchSseUsers({ port: httpPort, redisUrl: redisServer.url, db, userId, backendPid: backend.pid });
    memory.afterSseDistinctUsers = memoryMb(backend.pid);
    results.memory = memory;
    writeResults(results, stamp); // the 100k figures survive even if the 1M part is interrupted

    if (PLAN.grow1M) {
      log('growing the mailbox to 1,000,000 messages…');
      const have = Number((await db.query('SELECT max(uid)::bigint AS n FROM messages WHERE mailbox_id = $1', [mailboxId])).rows[0].n);
      results.generation1M = await generateMessages(db, { userId, mailboxId, address: PLAN.user, batch: PLAN.insertBatch, log, from: have + 1, to: 1_000_000, maxSeconds: Number(process.env.BENCH_1M_MAX_SECONDS ?? 900) });
      results.search1M = { messages: have + results.generation1M.rows, kinds: await benchSearch(httpPort, cookie, '1M') };
      results.search1M.diagnosticKinds = await benchSearch(httpPort, cookie, '1M diagnostic', DIAGNOSTIC_SEARCH_KINDS);
      results.search1M.explain = await explainSearches(pgServer.url, userId);
      results.search1M.diagnosticExplain = await explainSearches(pgServer.url, userId, DIAGNOSTIC_SEARCH_KINDS);
      results.memory.afterSearch1M = memoryMb(backend.pid);
    }
    const logLines = fs.existsSync(path.join(runDir, 'backend.log')) ? fs.readFileSync(path.join(runDir, 'backend.log'), 'utf8').split('\n').filter(Boolean) : [];
    results.backendLogLines = { count: logLines.length, sample: logLines.slice(0, 5) };
  } catch (err) {
    failure = err;
    results.error = err.stack ?? String(err);
  } finally {
    log('stopping everything this benchmark started…');
    await runCleanups('bench-api');
  }

  if (results.list) {
    const s = results.search1M ?? results.search;
    const worstSearchP95 = Math.max(...Object.values(s.kinds).map((k) => k.p95));
    results.targetCheck = {
      listPageP99: { target: `< ${TARGETS.listPageP99Ms100k} ms at 100k`, firstPage: results.list.firstPageMs.p99, deepPages: results.list.deepPagesMs.p99, met: Math.max(results.list.firstPageMs.p99, results.list.deepPagesMs.p99) < TARGETS.listPageP99Ms100k },
      searchP95: { target: `< ${TARGETS.searchP95Ms1M} ms at 1M`, measuredAt: s.messages, worstKindP95: worstSearchP95, met: results.search1M ? worstSearchP95 < TARGETS.searchP95Ms1M : null },
    };
  }
  results.finishedAt = new Date().toISOString();
  const out = writeResults(results, stamp);
  console.log(`\nResults: ${path.relative(ROOT, out)}`);
  if (!process.env.BENCH_KEEP && !failure) fs.rmSync(runDir, { recursive: true, force: true });
  else console.log(`Run data kept in ${path.relative(ROOT, runDir)}`);
  if (failure) {
    console.error(`\nbenchmark failed: ${failure.stack ?? failure}`);
    process.exitCode = 1;
  }
}

await main();
