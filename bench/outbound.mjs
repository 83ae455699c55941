#!/usr/bin/env node
// Outbound benchmark: Mailyard's outbound-worker (DKIM-signing, direct-to-MX) vs a private Postfix
// relaying the same load, both delivering 5 KB messages to Postfix's smtp-sink, in one run, all on
// loopback. Plain Node ESM; run after `npm run build` (or use `npm run bench:outbound`).
//
//   node bench/outbound.mjs                       # everything
//   BENCH_ONLY=mailyard node bench/outbound.mjs   # one side (postfix | mailyard)
//   BENCH_OUTBOUND_MESSAGES=5000                  # messages per measured run
//   BENCH_OUTBOUND_ROUNDS=2                       # Postfix / Mailyard (default concurrency) rounds, alternating
//   BENCH_OUTBOUND_CONCURRENCY=16,64              # extra OUTBOUND_CONCURRENCY values, one run each ('' = none)
//   BENCH_OUTBOUND_WORKER_PROCESSES=2             # a diagnostic run with this many worker processes ('' = none)
//   BENCH_WORKER_CPU_PROF=1                       # V8 CPU profile of each worker (bench/.data/outbound-*/profiles)
//   BENCH_KEEP=1                                  # keep bench/.data/outbound-* (databases, logs, maillog)
//
// Peers: smtp-sink on 127.0.0.2:PORT (counts every "." it receives, -c) and a second one on
// 127.0.0.3:PORT that dumps each message to a file (used once, to check the DKIM signature);
// dnsmasq on 127.0.0.1 serves sink.test MX mx.sink.test -> 127.0.0.2, dump.test -> 127.0.0.3 and
// the bench.test DKIM key. Every process started here is stopped by PID in a finally block; nothing
// outside bench/.data is written except bench/results/outbound-<timestamp>.json.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pg from 'pg';
import { Redis } from 'ioredis';
import { freePort, startLocalPostgres, startLocalRedis } from '../core/dist/local/index.js';
import {
  activeDkimPublicKey,
  blobHash,
  createAccountsService,
  createBlobRepository,
  createOutboundQueue,
  createOutboundRepository,
  createSecretBox,
  dkimTxtRecord,
  domainOf,
  loadSecretKey,
  openStore,
  schemas,
  silentLogger,
} from '../core/dist/index.js';
import { allProcesses, BENCH, benchLog, cleanups, coresBetween, cpuSnapshot, DATA_ROOT, exited, finishRun, machineInfo, memoryKb, onlyFilter, POSTFIX, pruneOldRuns, RESULTS, ROOT, round, runBounded, runCleanups, sleep, SMTP_SINK, SMTP_SOURCE, startChild, startPrivatePostfix, stopOnSignals, stopPid, topProcesses, waitForBanner, writePrivatePostfix } from './lib.mjs';

const execFileP = promisify(execFile);

const POSTSUPER = '/usr/sbin/postsuper';
const POSTQUEUE = '/usr/sbin/postqueue';
const POSTCONF = '/usr/sbin/postconf';
const DNSMASQ = '/usr/sbin/dnsmasq';
const SYSTEM_PYTHON = '/usr/bin/python3';
const DKIM_VERIFY = path.join(ROOT, 'tests', 'helpers', 'dkim-verify.py');

const intEnv = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
};

/** The default OUTBOUND_CONCURRENCY, read from core's config schema (what an operator gets). */
const DEFAULT_CONCURRENCY = schemas.outbound('service').parse({}).OUTBOUND_CONCURRENCY;

/** The workload. Kept here so the JSON records exactly what ran. */
const PLAN = {
  messages: intEnv('BENCH_OUTBOUND_MESSAGES', 5000),
  rounds: intEnv('BENCH_OUTBOUND_ROUNDS', 2),
  defaultConcurrency: DEFAULT_CONCURRENCY,
  extraConcurrency: (process.env.BENCH_OUTBOUND_CONCURRENCY ?? '16,64')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0 && n !== DEFAULT_CONCURRENCY),
  /** A diagnostic run with this many worker processes at the default concurrency (0/1 = none). */
  diagnosticWorkerProcesses: process.env.BENCH_OUTBOUND_WORKER_PROCESSES === '' ? 0 : intEnv('BENCH_OUTBOUND_WORKER_PROCESSES', 2),
  bodyBytes: 5120,
  warmupMessages: 200,
  recipientsPerMessage: 1,
  sender: 'sender@bench.test',
  senderDomain: 'bench.test',
  sinkDomain: 'sink.test',
  dumpDomain: 'dump.test',
  sinkAddress: '127.0.0.2',
  dumpAddress: '127.0.0.3',
  postfixSessions: 20,
  insertConcurrency: 8,
  blobBatch: 100,
  enqueueBatch: 500,
  runTimeoutMs: 240_000,
  fillTimeoutMs: 180_000,
  warmupTimeoutMs: 90_000,
  /** The worker's reconcile pass would enqueue rows inserted >interval ago on its own: kept out of the way. */
  workerReconcileInterval: '10m',
};

const wanted = onlyFilter();
const log = benchLog;
stopOnSignals();

/** Waits (bounded) until `check()` returns a truthy value; polls every `intervalMs`. */
async function waitFor(check, { timeoutMs, intervalMs = 50, what, abortIf }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    const why = abortIf?.();
    if (why) throw new Error(`${what}: ${why}`);
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}


// ---------------------------------------------------------------------------------------------
// Peers: smtp-sink (counting), smtp-sink (dumping), dnsmasq.

/**
 * smtp-sink with `-c`: it prints `sess=… quit=… mesg=N\r` each time a session ends, QUIT is
 * received or "." ends a message; `count()` is the last mesg= seen (messages received).
 */
function startSink(address, port, runDir, extraArgs = []) {
  const args = [...extraArgs, '-c', ...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), `${address}:${port}`, '1000'];
  const child = startChild(SMTP_SINK, args, { cwd: runDir });
  cleanups.push(() => stopPid(child, 'SIGTERM', 5_000));
  let count = 0;
  let carry = '';
  child.stdout.on('data', (chunk) => {
    const text = carry + chunk.toString('latin1');
    let last = null;
    for (const m of text.matchAll(/mesg=(\d+)\r/g)) last = m[1];
    if (last !== null) count = Number(last);
    carry = text.slice(-64);
  });
  return { child, args, count: () => count };
}

async function freeUdpPort() {
  const socket = createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise((resolve) => socket.close(resolve));
  return port;
}

async function startDns(records) {
  for (let attempt = 1; ; attempt++) {
    const port = await freeUdpPort();
    const args = [
      '--no-daemon',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--conf-file=/dev/null',
      '--pid-file=',
      ...records.localDomains.map((d) => `--local=/${d}/`),
      ...records.mx.map((m) => `--mx-host=${m.name},${m.host},10`),
      ...records.a.map((r) => `--host-record=${r.name},${r.address}`),
      ...records.txt.map((t) => `--txt-record=${[t.name, ...(t.value.match(/[\s\S]{1,255}/g) ?? [''])].join(',')}`),
    ];
    const child = startChild(DNSMASQ, args, { cwd: BENCH });
    cleanups.push(() => stopPid(child, 'SIGTERM', 5_000));
    const probe = new Resolver({ timeout: 300, tries: 1 });
    probe.setServers([`127.0.0.1:${port}`]);
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && !exited(child)) {
      try {
        const mx = await probe.resolveMx(records.mx[0].name);
        if (mx.length > 0) return { child, port, server: `127.0.0.1:${port}`, args };
      } catch {
        await sleep(50);
      }
    }
    await stopPid(child, 'SIGTERM', 2_000);
    if (attempt >= 3) throw new Error(`dnsmasq did not start:\n${child.tail()}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Postfix as a relay: a private instance (own config, queue and data directories).

async function startPostfixRelay(runDir, sinkPort) {
  const dir = path.join(runDir, 'postfix');
  const port = await freePort('127.0.0.1');
  const { etc, queue, maillog, settings } = writePrivatePostfix(dir, {
    listen: `127.0.0.1:${port}`,
    comment: 'Private benchmark instance (bench/outbound.mjs): a relay. Everything goes to smtp-sink via relayhost.',
    settings: [
      'myhostname = relay.bench.local',
      'mydestination =',
      `relayhost = [${PLAN.sinkAddress}]:${sinkPort}`,
      'smtp_tls_security_level = none',
      'smtpd_tls_security_level = none',
      '# Every message received is put on hold: the queue is filled first, then released and timed.',
      'smtpd_data_restrictions = check_client_access static:HOLD',
      'local_transport = error:no local delivery in the benchmark relay',
      'notify_classes =',
    ],
  });

  const { masterPid } = await startPrivatePostfix({ dir, etc, queue, maillog, host: '127.0.0.1', port });

  const countFiles = (sub) => {
    let n = 0;
    const walk = (d) => {
      let entries;
      try {
        entries = fs.readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.isDirectory()) walk(path.join(d, e.name));
        else n += 1;
      }
    };
    walk(path.join(queue, sub));
    return n;
  };
  const queued = () => ({ hold: countFiles('hold'), incoming: countFiles('incoming'), active: countFiles('active'), deferred: countFiles('deferred'), maildrop: countFiles('maildrop') });
  const logCounts = () => {
    let text = '';
    try {
      text = fs.readFileSync(maillog, 'utf8');
    } catch {
      /* not yet */
    }
    return {
      sent: (text.match(/ status=sent /g) ?? []).length,
      deferred: (text.match(/ status=deferred /g) ?? []).length,
      bounced: (text.match(/ status=bounced /g) ?? []).length,
      held: (text.match(/: hold: /g) ?? []).length,
      sizeSample: Number(/ size=(\d+),/.exec(text)?.[1] ?? NaN) || null,
    };
  };
  const { stdout: version } = await execFileP(POSTCONF, ['-c', etc, '-h', 'mail_version']).catch(() => ({ stdout: '' }));
  return {
    dir,
    etc,
    port,
    maillog,
    version: version.trim() || null,
    masterPid,
    queued,
    logCounts,
    release: () => execFileP(POSTSUPER, ['-c', etc, '-H', 'ALL'], { timeout: 120_000 }),
    flush: () => execFileP(POSTQUEUE, ['-c', etc, '-f'], { timeout: 60_000 }),
    settings,
  };
}

/** One smtp-source run (it exits after the last reply); warnings are non-2xx replies. */
async function smtpSource(port, { messages, sessions, label }) {
  const args = ['-s', String(sessions), '-l', String(PLAN.bodyBytes), '-m', String(messages), '-f', PLAN.sender, '-t', `rcpt@${PLAN.sinkDomain}`, '-M', 'client.bench.test', `127.0.0.1:${port}`];
  const { code, seconds, lines: warnings } = await runBounded(SMTP_SOURCE, args, { cwd: BENCH, timeoutMs: PLAN.fillTimeoutMs });
  log(`${label}: smtp-source put ${messages} msgs in ${seconds.toFixed(2)} s (exit ${code}${warnings.length ? `, ${warnings.length} warning lines` : ''})`);
  if (code !== 0) throw new Error(`${label}: smtp-source exited ${code}:\n${warnings.slice(0, 5).join('\n')}`);
  return { command: `smtp-source ${args.join(' ')}`, seconds: round(seconds, 2), acceptedPerSecond: round(messages / seconds, 0), warnings: warnings.length };
}

/**
 * One Postfix run: fill the queue while every message is held, release it all
 * (`postsuper -H ALL` + `postqueue -f`), then time until smtp-sink has counted N more messages
 * and the queue is empty.
 */
async function postfixRun(relay, sink, label, pids) {
  const N = PLAN.messages;
  const before = relay.logCounts();
  const fill = await smtpSource(relay.port, { messages: N, sessions: PLAN.postfixSessions, label });
  const q = await waitFor(
    () => {
      const c = relay.queued();
      return c.hold >= N && c.incoming === 0 && c.maildrop === 0 ? c : null;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `${label}: waiting for ${N} held messages (${JSON.stringify(relay.queued())})` },
  );
  if (q.active + q.deferred > 0) throw new Error(`${label}: messages escaped the hold queue: ${JSON.stringify(q)}`);
  await sleep(500); // let the queue settle
  const base = sink.count();
  const masterPid = relay.masterPid();
  const cpu0 = cpuSnapshot({ ...pids, postfix: masterPid });
  const procs0 = allProcesses();
  const t0 = performance.now();
  await relay.release();
  const tReleased = performance.now();
  await relay.flush();
  const tFlushed = performance.now();
  await waitFor(() => sink.count() - base >= N, {
    timeoutMs: PLAN.runTimeoutMs,
    intervalMs: 20,
    what: `${label}: smtp-sink did not count ${N} messages`,
    abortIf: () => (exited(sink.child) ? 'smtp-sink exited' : null),
  });
  const tSink = performance.now();
  const cpuAtSink = cpuSnapshot({ ...pids, postfix: masterPid });
  const procsAtSink = allProcesses();
  await waitFor(
    () => {
      const c = relay.queued();
      return c.hold + c.incoming + c.active + c.deferred + c.maildrop === 0;
    },
    { timeoutMs: 60_000, intervalMs: 50, what: `${label}: Postfix queue not empty` },
  );
  const tEmpty = performance.now();
  // The log is written by postlogd; give it a moment to catch up (bounded).
  const after = await waitFor(
    () => {
      const c = relay.logCounts();
      return c.sent - before.sent >= N ? c : null;
    },
    { timeoutMs: 10_000, intervalMs: 100, what: `${label}: maillog status=sent lines` },
  ).catch(() => relay.logCounts());
  const seconds = (Math.max(tSink, tEmpty) - t0) / 1000;
  const sinkSeconds = (tSink - t0) / 1000;
  const result = {
    label,
    messages: N,
    fill,
    releaseSeconds: round((tReleased - t0) / 1000, 3),
    flushCommandSeconds: round((tFlushed - tReleased) / 1000, 3),
    secondsToSinkCount: round(sinkSeconds, 3),
    secondsToQueueEmpty: round((tEmpty - t0) / 1000, 3),
    seconds: round(seconds, 3),
    messagesPerSecond: round(N / seconds, 0),
    messagesPerSecondExcludingRelease: round(N / (Math.max(tSink, tEmpty) - tReleased) * 1000, 0),
    sinkCounted: sink.count() - base,
    maillog: { sent: after.sent - before.sent, deferred: after.deferred - before.deferred, bounced: after.bounced - before.bounced, held: after.held - before.held },
    messageSizeInQueue: after.sizeSample,
    cpuCores: coresBetween(cpu0, cpuAtSink, sinkSeconds),
    topProcesses: topProcesses(procs0, procsAtSink, sinkSeconds, { [process.pid]: 'node (this script)' }),
  };
  log(`${label}: ${N} relayed in ${seconds.toFixed(2)} s = ${result.messagesPerSecond} msg/s (postsuper -H ${result.releaseSeconds} s; sink count at ${sinkSeconds.toFixed(2)} s; maillog sent ${result.maillog.sent}, deferred ${result.maillog.deferred}, bounced ${result.maillog.bounced})`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Mailyard.

/** A ~5 KB plain-text message from sender@bench.test, CRLF line endings. */
function buildMessage(tag, i, recipient) {
  const head = [
    `From: Bench Sender <${PLAN.sender}>`,
    `To: <${recipient}>`,
    `Subject: outbound bench ${tag} ${i}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${tag}-${i}@${PLAN.senderDomain}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
  ].join('\r\n');
  const lines = [];
  let size = 0;
  for (let n = 0; size < PLAN.bodyBytes; n++) {
    const line = `${tag} ${i} line ${n}: the quick brown fox jumps over the lazy dog, 0123456789 abcdefghij`.slice(0, 76);
    lines.push(line);
    size += line.length + 2;
  }
  return { raw: Buffer.from(`${head}\r\n\r\n${lines.join('\r\n')}\r\n`, 'latin1'), messageId: `<${tag}-${i}@${PLAN.senderDomain}>`, subject: `outbound bench ${tag} ${i}` };
}

/** Stores `count` messages (blob + outbound record each, as the send path does) and returns their ids. */
async function storeOutbound(db, userId, tag, count, recipientOf) {
  const blobs = createBlobRepository(db);
  const outbound = createOutboundRepository(db);
  const ids = new Array(count);
  let sizeTotal = 0;
  const t0 = performance.now();
  for (let start = 0; start < count; start += PLAN.blobBatch) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + PLAN.blobBatch); i++) batch.push({ i, recipient: recipientOf(i), ...buildMessage(tag, i, recipientOf(i)) });
    await blobs.putMany(batch.map((m) => ({ hash: blobHash(m.raw), data: m.raw })));
    let next = 0;
    await Promise.all(
      Array.from({ length: PLAN.insertConcurrency }, async () => {
        while (next < batch.length) {
          const m = batch[next++];
          sizeTotal += m.raw.length;
          const r = await outbound.record({
            userId,
            sentMessageId: null,
            raw: m.raw,
            mailFrom: PLAN.sender,
            messageIdHeader: m.messageId,
            subject: m.subject,
            dkimDomain: PLAN.senderDomain,
            recipients: [{ address: m.recipient, domain: domainOf(m.recipient), local: false }],
          });
          ids[m.i] = { outboundId: r.outboundId, domain: r.remoteDomains[0] };
        }
      }),
    );
  }
  return { ids, seconds: (performance.now() - t0) / 1000, averageBytes: Math.round(sizeTotal / count) };
}

async function enqueueAll(queue, ids) {
  for (let start = 0; start < ids.length; start += PLAN.enqueueBatch) {
    await queue.enqueue(ids.slice(start, start + PLAN.enqueueBatch).map((x) => ({ outboundId: x.outboundId, domain: x.domain, attempt: 0 })));
  }
}

async function deliveryCounts(pool, ids) {
  const list = ids.map((x) => x.outboundId);
  const { rows } = await pool.query('SELECT status, count(*)::int AS n FROM deliveries WHERE outbound_id = ANY($1::bigint[]) GROUP BY status', [list]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

async function pgStats(pool) {
  const out = {};
  const x = await pool.query('SELECT xact_commit::bigint AS commits FROM pg_stat_database WHERE datname = current_database()');
  out.commits = Number(x.rows[0].commits);
  try {
    const w = await pool.query(`SELECT coalesce(sum(fsyncs), 0)::bigint AS fsyncs FROM pg_stat_io WHERE object = 'wal'`);
    out.walFsyncs = Number(w.rows[0].fsyncs);
  } catch {
    out.walFsyncs = null;
  }
  return out;
}

async function mailyardSetup(runDir) {
  const dataDir = path.join(runDir, 'mailyard');
  fs.mkdirSync(dataDir, { recursive: true });
  log('starting private PostgreSQL (fsync on) and Redis…');
  const pgServer = await startLocalPostgres({ dataDir });
  cleanups.push(() => pgServer.stop());
  const redisServer = await startLocalRedis({ dataDir, persistent: true });
  cleanups.push(() => redisServer.stop());
  const store = await openStore(pgServer.url, silentLogger(), { poolSize: PLAN.insertConcurrency + 2, applicationName: 'bench-outbound' });
  cleanups.push(() => store.close());
  const pool = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  cleanups.push(() => pool.end());
  const settings = Object.fromEntries(
    (await pool.query(`SELECT name, setting FROM pg_settings WHERE name IN ('fsync','synchronous_commit','wal_sync_method','server_version','shared_buffers','max_connections')`)).rows.map((r) => [r.name, r.setting]),
  );
  if (settings.fsync !== 'on' || settings.synchronous_commit !== 'on') throw new Error(`PostgreSQL is not durable here: ${JSON.stringify(settings)}`);

  // Sealed with the key the workers will use (their DATA_DIR/secret.key, or SECRET_KEY).
  const accounts = createAccountsService({ db: store.db, secrets: createSecretBox(loadSecretKey(dataDir, process.env.SECRET_KEY || undefined)) });
  await accounts.addDomain(PLAN.senderDomain); // generates the domain's DKIM key
  const user = await accounts.addUser({ address: PLAN.sender, password: randomBytes(12).toString('base64url') });
  const dkim = await activeDkimPublicKey(store.db, PLAN.senderDomain);
  if (!dkim?.active) throw new Error(`${PLAN.senderDomain} has no active DKIM key: mail would go out unsigned`);

  const enqueueRedis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  cleanups.push(async () => enqueueRedis.disconnect());
  const queue = createOutboundQueue(enqueueRedis);
  cleanups.push(() => queue.close());

  const postmasterPid = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const redisPid = JSON.parse(fs.readFileSync(path.join(dataDir, 'redis', 'server.json'), 'utf8')).pid;
  return { dataDir, pgServer, redisServer, db: store.db, pool, settings, userId: user.id, dkim, queue, postmasterPid, redisPid };
}

function startWorkers(my, runDir, { dns, sinkPort, concurrency, processes = 1 }) {
  const env = {
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: my.pgServer.url,
    REDIS_URL: my.redisServer.url,
    DATA_DIR: my.dataDir,
    LOG_LEVEL: 'warn',
    MAIL_HOSTNAME: 'mta.bench.test',
    DNS_SERVERS: dns.server,
    OUTBOUND_SMTP_PORT: String(sinkPort),
    OUTBOUND_ALLOW_PRIVATE: 'true', // the sink listens on loopback
    OUTBOUND_RECONCILE_INTERVAL: PLAN.workerReconcileInterval,
  };
  if (concurrency !== PLAN.defaultConcurrency) env.OUTBOUND_CONCURRENCY = String(concurrency);
  else delete env.OUTBOUND_CONCURRENCY; // the real default
  const workers = [];
  for (let i = 1; i <= processes; i++) {
    const name = `outbound-worker-c${concurrency}${processes > 1 ? `-p${processes}-${i}` : ''}`;
    // BENCH_WORKER_CPU_PROF=1: a V8 CPU profile of each worker process, in <run dir>/profiles (kept).
    const profile = process.env.BENCH_WORKER_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.join(runDir, 'profiles')}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
    const worker = startChild(process.execPath, [...profile, path.join(ROOT, 'outbound-worker', 'dist', 'main.js')], { cwd: ROOT, env, logFile: path.join(runDir, `${name}.log`) });
    cleanups.push(() => stopPid(worker, 'SIGTERM', 20_000));
    workers.push(worker);
  }
  /** Why to stop waiting: a worker exited, or logged an error (LOG_LEVEL=warn: level 50 = error). */
  const deadWorker = () => {
    const dead = workers.find((x) => exited(x));
    if (dead) return `outbound-worker exited:\n${dead.tail()}`;
    const failing = workers.map((x) => x.tail().split('\n').find((l) => /"level":(50|60)/.test(l))).find(Boolean);
    return failing ? `outbound-worker logged an error: ${failing}` : null;
  };
  const stop = async () => {
    for (const x of workers) await stopPid(x, 'SIGTERM', 20_000);
  };
  return { workers, concurrency, processes, deadWorker, stop };
}

/** Delivers `count` messages and waits until all are delivered (readiness + JIT warm-up). */
async function warmUp(my, w, sink, tag) {
  const stored = await storeOutbound(my.db, my.userId, tag, PLAN.warmupMessages, (i) => `warm${i}@${PLAN.sinkDomain}`);
  const t0 = performance.now();
  await enqueueAll(my.queue, stored.ids);
  await waitFor(async () => (await deliveryCounts(my.pool, stored.ids)).delivered === PLAN.warmupMessages, {
    timeoutMs: PLAN.warmupTimeoutMs,
    intervalMs: 100,
    what: `warm-up (concurrency ${w.concurrency}) not delivered`,
    abortIf: w.deadWorker,
  });
  log(`warm-up, concurrency ${w.concurrency}: ${PLAN.warmupMessages} delivered in ${((performance.now() - t0) / 1000).toFixed(2)} s (sink count ${sink.count()})`);
}

/**
 * Sends one message to dump.test (MX -> the dumping smtp-sink), reads what arrived and verifies
 * its DKIM signature with Debian's python3-dkim against the key published on our dnsmasq.
 */
async function dkimProbe(my, w, dns, dumpDir) {
  const stored = await storeOutbound(my.db, my.userId, 'probe', 1, () => `probe@${PLAN.dumpDomain}`);
  await enqueueAll(my.queue, stored.ids);
  await waitFor(async () => (await deliveryCounts(my.pool, stored.ids)).delivered === 1, {
    timeoutMs: 30_000,
    intervalMs: 100,
    what: 'DKIM probe delivery',
    abortIf: w.deadWorker,
  });
  const files = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else files.push(path.join(d, e.name));
    }
  };
  const dumped = await waitFor(
    () => {
      files.length = 0;
      walk(dumpDir);
      return files.length > 0 && fs.statSync(files[0]).size > 0 ? files[0] : null;
    },
    { timeoutMs: 10_000, intervalMs: 100, what: 'smtp-sink dump file' },
  );
  // Strip smtp-sink's own X-* records and its three-line Received header; the rest is the message.
  const lines = fs.readFileSync(dumped, 'latin1').split('\n');
  let at = 0;
  while (at < lines.length && /^X-[\w-]+: /.test(lines[at])) at++;
  if (/^Received: .*/.test(lines[at] ?? '')) {
    at++;
    while (at < lines.length && /^[ \t]/.test(lines[at])) at++;
  }
  const message = lines.slice(at).join('\n').replace(/\n$/, '');
  const raw = Buffer.from(message.replace(/\r?\n/g, '\r\n') + '\r\n', 'latin1');
  const header = /^DKIM-Signature:[^\r]*(?:\r\n[ \t][^\r]*)*/im.exec(raw.toString('latin1'))?.[0] ?? null;
  const result = { deliveredBytes: raw.length, dkimSignatureHeader: header ? header.replace(/b=[^;]*$/, 'b=…').replace(/\r\n/g, '') : null, signed: Boolean(header && /d=bench\.test/.test(header)) };
  if (fs.existsSync(SYSTEM_PYTHON) && fs.existsSync(DKIM_VERIFY)) {
    const [host, port] = dns.server.split(':');
    const verified = await new Promise((resolve) => {
      const child = execFile(SYSTEM_PYTHON, [DKIM_VERIFY, host, port], { timeout: 30_000, env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } }, (err, stdout, stderr) => {
        try {
          resolve(JSON.parse(stdout.trim().split('\n').pop()));
        } catch {
          resolve({ ok: false, detail: `verifier failed: ${err?.message ?? ''} ${stderr}` });
        }
      });
      child.stdin.end(raw);
    });
    result.verifiedByPythonDkim = verified.ok === true;
    result.verifierDetail = verified.detail;
  }
  log(`DKIM probe: signature ${result.signed ? 'present (d=bench.test)' : 'MISSING'}${result.verifiedByPythonDkim === undefined ? '' : `, python3-dkim: ${result.verifiedByPythonDkim ? 'verified' : `NOT verified (${result.verifierDetail})`}`}`);
  if (!result.signed) throw new Error(`the probe message arrived without a DKIM signature for bench.test:\n${raw.toString('latin1').slice(0, 2000)}`);
  return result;
}

/** One measured Mailyard run: N stored, all enqueued at once, timed until sink and table agree. */
async function mailyardRun(my, w, sink, label, tag, pids) {
  const N = PLAN.messages;
  const stored = await storeOutbound(my.db, my.userId, tag, N, (i) => `rcpt${i}@${PLAN.sinkDomain}`);
  log(`${label}: stored ${N} outbound messages (avg ${stored.averageBytes} bytes) in ${stored.seconds.toFixed(1)} s`);
  // PostgreSQL publishes a backend's statistics at most once a second: let them settle first.
  await sleep(1_100);
  const stats0 = await pgStats(my.pool);
  const base = sink.count();
  const workerPids = () => Object.fromEntries(w.workers.map((x, i) => [`worker${i === 0 ? '' : i + 1}`, x.pid]));
  const cpu0 = cpuSnapshot({ ...pids, ...workerPids() });
  const procs0 = allProcesses();
  const t0 = performance.now();
  await enqueueAll(my.queue, stored.ids);
  const tEnqueued = performance.now();
  await waitFor(() => sink.count() - base >= N, {
    timeoutMs: PLAN.runTimeoutMs,
    intervalMs: 20,
    what: `${label}: smtp-sink did not count ${N} messages`,
    abortIf: () => w.deadWorker() ?? (exited(sink.child) ? 'smtp-sink exited' : null),
  });
  const tSink = performance.now();
  const cpuAtSink = cpuSnapshot({ ...pids, ...workerPids() });
  const procsAtSink = allProcesses();
  const counts = await waitFor(
    async () => {
      const c = await deliveryCounts(my.pool, stored.ids);
      return (c.delivered ?? 0) >= N ? c : null;
    },
    { timeoutMs: 60_000, intervalMs: 50, what: `${label}: not every delivery is marked delivered` },
  );
  const tDb = performance.now();
  await sleep(1_100);
  const stats1 = await pgStats(my.pool); // includes this script's own polling queries (a few per 50 ms)
  const seconds = (Math.max(tSink, tDb) - t0) / 1000;
  const sinkSeconds = (tSink - t0) / 1000;
  const { rows } = await my.pool.query('SELECT max(attempts)::int AS max_attempts FROM deliveries WHERE outbound_id = ANY($1::bigint[])', [stored.ids.map((x) => x.outboundId)]);
  const result = {
    label,
    concurrency: w.concurrency,
    workerProcesses: w.processes,
    messages: N,
    averageMessageBytesBeforeSigning: stored.averageBytes,
    storeSeconds: round(stored.seconds, 2),
    enqueueSeconds: round((tEnqueued - t0) / 1000, 3),
    secondsToSinkCount: round(sinkSeconds, 3),
    secondsToAllDeliveredInTable: round((tDb - t0) / 1000, 3),
    seconds: round(seconds, 3),
    messagesPerSecond: round(N / seconds, 0),
    sinkCounted: sink.count() - base,
    deliveries: counts,
    maxAttempts: rows[0].max_attempts,
    cpuCores: coresBetween(cpu0, cpuAtSink, sinkSeconds),
    topProcesses: topProcesses(procs0, procsAtSink, sinkSeconds, { [process.pid]: 'node (this script)', ...Object.fromEntries(w.workers.map((x) => [x.pid, 'outbound-worker'])) }),
    postgres: { commits: stats1.commits - stats0.commits, commitsPerMessage: round((stats1.commits - stats0.commits) / N, 2), walFsyncs: stats1.walFsyncs === null ? null : stats1.walFsyncs - stats0.walFsyncs },
    workerMemory: memoryKb(w.workers[0].pid),
    ...(w.processes > 1 ? { otherWorkersMemory: w.workers.slice(1).map((x) => memoryKb(x.pid)) } : {}),
  };
  const c = result.cpuCores;
  c.workersTotal = round(Object.entries(c).filter(([k, v]) => k.startsWith('worker') && v !== null).reduce((a, [, v]) => a + v, 0), 2);
  log(`${label}: ${N} delivered in ${seconds.toFixed(2)} s = ${result.messagesPerSecond} msg/s (enqueue ${result.enqueueSeconds} s; cores: worker${w.processes > 1 ? 's' : ''} ${c.workersTotal}, postgres ${c.postgres}, redis ${c.redis}, dnsmasq ${c.dnsmasq}, sink ${c.sink}, machine ${c.wholeMachine}; PG commits/msg ${result.postgres.commitsPerMessage}; worker RSS ${Math.round((result.workerMemory.vmRSSKb ?? 0) / 1024)} MB)`);
  return result;
}

// ---------------------------------------------------------------------------------------------


function requireTools() {
  const missing = [SMTP_SOURCE, SMTP_SINK, POSTFIX, POSTSUPER, POSTQUEUE, DNSMASQ].filter((f) => !fs.existsSync(f));
  if (missing.length) {
    throw new Error(
      `missing ${missing.join(', ')}: install Debian's postfix and dnsmasq packages without starting them:\n  printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && apt-get install -y postfix dnsmasq`,
    );
  }
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark runs a private Postfix (and PostgreSQL as the postgres user)');
  for (const f of ['outbound-worker/dist/main.js', 'core/dist/index.js']) {
    if (!fs.existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first (or \`npm run bench:outbound\`)`);
  }
}


const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

function summarize(results) {
  const pf = results.postfix?.runs ?? [];
  const my = results.mailyard?.runs ?? [];
  const def = my.filter((r) => r.concurrency === PLAN.defaultConcurrency);
  const byConcurrency = {};
  for (const r of my) (byConcurrency[r.concurrency] ??= []).push(r.messagesPerSecond);
  const best = Object.entries(byConcurrency).sort((a, b) => Math.max(...b[1]) - Math.max(...a[1]))[0];
  const s = {
    postfixMeanMsgPerSecond: round(mean(pf.map((r) => r.messagesPerSecond)), 0),
    postfixRuns: pf.map((r) => r.messagesPerSecond),
    mailyardDefaultConcurrency: PLAN.defaultConcurrency,
    mailyardDefaultMeanMsgPerSecond: round(mean(def.map((r) => r.messagesPerSecond)), 0),
    mailyardDefaultRuns: def.map((r) => r.messagesPerSecond),
    mailyardByConcurrency: byConcurrency,
    mailyardBest: best ? { concurrency: Number(best[0]), messagesPerSecond: Math.max(...best[1]) } : null,
    workerPeakRssMb: my.length ? round(Math.max(...my.map((r) => r.workerMemory.vmHWMKb ?? 0)) / 1024, 0) : null,
  };
  if (s.postfixMeanMsgPerSecond !== null && s.mailyardDefaultMeanMsgPerSecond !== null) {
    s.target = 'Mailyard (default concurrency) >= Postfix relaying, same run, mean of the rounds';
    s.targetMet = s.mailyardDefaultMeanMsgPerSecond >= s.postfixMeanMsgPerSecond;
    s.ratio = round(s.mailyardDefaultMeanMsgPerSecond / s.postfixMeanMsgPerSecond, 2);
  }
  return s;
}

function printTable(results) {
  const fmt = (n) => (n === null || n === undefined ? '—' : String(n));
  const rows = [];
  for (const r of results.postfix?.runs ?? []) {
    const c = r.cpuCores;
    rows.push([r.label, fmt(r.messagesPerSecond), fmt(r.seconds), `${r.sinkCounted}/${r.messages}`, `postfix ${fmt(c.postfix)}`, '—', '—', fmt(c.sink), fmt(c.wholeMachine), '—']);
  }
  for (const r of [...(results.mailyard?.runs ?? []), ...(results.mailyard?.diagnostics ?? [])]) {
    const c = r.cpuCores;
    rows.push([r.label, fmt(r.messagesPerSecond), fmt(r.seconds), `${r.sinkCounted}/${r.messages}`, `worker ${fmt(c.workersTotal)}`, fmt(c.postgres), fmt(c.redis), fmt(c.sink), fmt(c.wholeMachine), `${Math.round((r.workerMemory.vmRSSKb ?? 0) / 1024)} MB`]);
  }
  const head = ['run', 'msg/s', 'seconds', 'sink', 'cores: MTA', 'postgres', 'redis', 'sink', 'machine', 'worker RSS'];
  const widths = [40, 7, 8, 12, 16, 9, 6, 6, 8, 10];
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join(' ');
  console.log(`\nOutbound: ${PLAN.messages} messages of ~5 KB, 1 recipient each, to smtp-sink (${results.machine.nproc} cores)`);
  console.log(line(head));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
  console.log('\nWhere the CPU went (cores, all processes on the machine, release/enqueue -> last message at the sink):');
  for (const r of [...(results.postfix?.runs ?? []), ...(results.mailyard?.runs ?? []), ...(results.mailyard?.diagnostics ?? [])]) {
    console.log(`  ${r.label.padEnd(40)} ${(r.topProcesses ?? []).slice(0, 7).map((p) => `${p.name} ${p.cores}`).join(', ')}`);
  }
  const s = results.summary;
  if (s) {
    console.log(`\nPostfix relaying: mean ${fmt(s.postfixMeanMsgPerSecond)} msg/s (${s.postfixRuns.join(', ')})`);
    console.log(`Mailyard, default OUTBOUND_CONCURRENCY=${s.mailyardDefaultConcurrency}: mean ${fmt(s.mailyardDefaultMeanMsgPerSecond)} msg/s (${s.mailyardDefaultRuns.join(', ')})`);
    if (s.mailyardBest) console.log(`Mailyard best: ${s.mailyardBest.messagesPerSecond} msg/s at OUTBOUND_CONCURRENCY=${s.mailyardBest.concurrency}; worker peak RSS ${fmt(s.workerPeakRssMb)} MB`);
    if (s.targetMet !== undefined) console.log(`Target (${s.target}): ${s.targetMet ? 'MET' : 'MISSED'} (ratio ${s.ratio})`);
  }
  const d = results.mailyard?.dkimProbe;
  if (d) console.log(`DKIM: ${d.signed ? 'signed' : 'NOT signed'}${d.verifiedByPythonDkim === undefined ? '' : d.verifiedByPythonDkim ? ', verified by python3-dkim' : ', NOT verified'}: ${d.dkimSignatureHeader?.slice(0, 120) ?? ''}`);
}

async function main() {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  requireTools();
  fs.mkdirSync(DATA_ROOT, { recursive: true });
  pruneOldRuns(DATA_ROOT, 'outbound-', (dir) => [path.join(dir, 'mailyard', 'postgres', 'postmaster.pid'), path.join(dir, 'postfix', 'spool', 'pid', 'master.pid')]);
  const runDir = path.join(DATA_ROOT, `outbound-${stamp}`);
  fs.mkdirSync(runDir, { recursive: true });
  fs.chmodSync(runDir, 0o755);
  const results = { startedAt: startedAt.toISOString(), command: 'npm run bench:outbound  (= npm run build && node bench/outbound.mjs)', plan: PLAN, machine: machineInfo() };
  log(`run directory ${path.relative(ROOT, runDir)}; ${PLAN.messages} messages per run, ${PLAN.rounds} rounds, default concurrency ${PLAN.defaultConcurrency}, extra ${PLAN.extraConcurrency.join(',') || 'none'}`);

  let failure = null;
  try {
    // ----- peers -----
    let sinkPort;
    let sink;
    let dump;
    const dumpDir = path.join(runDir, 'dump');
    fs.mkdirSync(dumpDir, { mode: 0o777 });
    fs.chmodSync(dumpDir, 0o777); // smtp-sink writes as nobody
    for (let attempt = 1; ; attempt++) {
      sinkPort = await freePort(PLAN.sinkAddress);
      sink = startSink(PLAN.sinkAddress, sinkPort, runDir);
      dump = startSink(PLAN.dumpAddress, sinkPort, runDir, ['-d', `${dumpDir}/%H%M%S.`]);
      try {
        await waitForBanner(PLAN.sinkAddress, sinkPort, { child: sink.child, timeoutMs: 10_000 });
        await waitForBanner(PLAN.dumpAddress, sinkPort, { child: dump.child, timeoutMs: 10_000 });
        break;
      } catch (err) {
        await stopPid(sink.child, 'SIGTERM', 2_000);
        await stopPid(dump.child, 'SIGTERM', 2_000);
        if (attempt >= 3) throw err;
      }
    }
    results.peers = { sink: `smtp-sink ${sink.args.join(' ')}`, dumpSink: `smtp-sink ${dump.args.join(' ')}` };
    log(`smtp-sink on ${PLAN.sinkAddress}:${sinkPort} (counting) and ${PLAN.dumpAddress}:${sinkPort} (dumping)`);

    // Mailyard's store first: the DKIM key must be known before dnsmasq publishes it.
    const my = wanted('mailyard') ? await mailyardSetup(runDir) : null;
    const records = {
      localDomains: [PLAN.sinkDomain, PLAN.dumpDomain, PLAN.senderDomain],
      mx: [
        { name: PLAN.sinkDomain, host: `mx.${PLAN.sinkDomain}` },
        { name: PLAN.dumpDomain, host: `mx.${PLAN.dumpDomain}` },
      ],
      a: [
        { name: `mx.${PLAN.sinkDomain}`, address: PLAN.sinkAddress },
        { name: `mx.${PLAN.dumpDomain}`, address: PLAN.dumpAddress },
      ],
      txt: my ? [{ name: `${my.dkim.selector}._domainkey.${PLAN.senderDomain}`, value: dkimTxtRecord(my.dkim.publicKeyB64) }] : [],
    };
    const dns = await startDns(records);
    results.peers.dnsmasq = `dnsmasq ${dns.args.filter((a) => !a.startsWith('--txt-record')).join(' ')} (+ the DKIM TXT record)`;
    log(`dnsmasq on ${dns.server}`);

    const relay = wanted('postfix') ? await startPostfixRelay(runDir, sinkPort) : null;
    if (relay) {
      results.postfix = { version: relay.version, configDirectory: path.relative(ROOT, relay.etc), mainCf: relay.settings, runs: [] };
      log(`Postfix ${relay.version} relay on 127.0.0.1:${relay.port} -> [${PLAN.sinkAddress}]:${sinkPort}`);
      // Warm-up: a small fill/release cycle so the first measured run does not pay for start-up.
      const warmSource = await smtpSource(relay.port, { messages: PLAN.warmupMessages, sessions: PLAN.postfixSessions, label: 'postfix warm-up' });
      await waitFor(() => relay.queued().hold >= PLAN.warmupMessages, { timeoutMs: 30_000, intervalMs: 100, what: 'postfix warm-up hold' });
      const base = sink.count();
      await relay.release();
      await relay.flush();
      await waitFor(() => sink.count() - base >= PLAN.warmupMessages, { timeoutMs: 60_000, intervalMs: 50, what: 'postfix warm-up relay' });
      results.postfix.warmUp = warmSource;
    }

    const pids = { postgres: my?.postmasterPid ?? null, redis: my?.redisPid ?? null, dnsmasq: dns.child.pid, sink: sink.child.pid };
    let w = null;
    if (my) {
      results.mailyard = { postgres: my.settings, redis: 'redis-server, appendonly yes, appendfsync everysec', dkimSelector: my.dkim.selector, runs: [] };
      w = startWorkers(my, runDir, { dns, sinkPort, concurrency: PLAN.defaultConcurrency });
      await warmUp(my, w, sink, 'warm-default');
      results.mailyard.dkimProbe = await dkimProbe(my, w, dns, dumpDir);
    }

    // ----- measured rounds: Postfix then Mailyard (default concurrency), alternating -----
    for (let round_ = 1; round_ <= PLAN.rounds; round_++) {
      if (relay) results.postfix.runs.push(await postfixRun(relay, sink, `Postfix relay, round ${round_}`, pids));
      if (my) results.mailyard.runs.push(await mailyardRun(my, w, sink, `Mailyard c=${PLAN.defaultConcurrency} (default), round ${round_}`, `r${round_}`, pids));
    }
    // ----- other concurrency settings, one run each -----
    if (my) {
      for (const concurrency of PLAN.extraConcurrency) {
        await w.stop();
        w = startWorkers(my, runDir, { dns, sinkPort, concurrency });
        await warmUp(my, w, sink, `warm-c${concurrency}`);
        results.mailyard.runs.push(await mailyardRun(my, w, sink, `Mailyard c=${concurrency}`, `c${concurrency}`, pids));
      }
      // Diagnostic, not a target: two worker processes (as two compose replicas would run).
      if (PLAN.diagnosticWorkerProcesses > 1) {
        await w.stop();
        const processes = PLAN.diagnosticWorkerProcesses;
        w = startWorkers(my, runDir, { dns, sinkPort, concurrency: PLAN.defaultConcurrency, processes });
        await warmUp(my, w, sink, `warm-p${processes}`);
        results.mailyard.diagnostics = [await mailyardRun(my, w, sink, `Mailyard ${processes} processes x c=${PLAN.defaultConcurrency} (diag.)`, `p${processes}`, pids)];
      }
      const logLines = (file) => {
        try {
          return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
        } catch {
          return [];
        }
      };
      const workerLogs = fs.readdirSync(runDir).filter((f) => f.startsWith('outbound-worker-'));
      results.mailyard.workerLogWarnings = Object.fromEntries(workerLogs.map((f) => [f, { lines: logLines(path.join(runDir, f)).length, sample: logLines(path.join(runDir, f)).slice(0, 3) }]));
    }
  } catch (err) {
    failure = err;
    results.error = err.stack ?? String(err);
  } finally {
    log('stopping everything this benchmark started…');
    await runCleanups('bench');
  }

  results.summary = summarize(results);
  results.finishedAt = new Date().toISOString();
  finishRun({ root: ROOT, resultsDir: RESULTS, fileName: `outbound-${stamp}.json`, results, printTable, runDir, failure, kept: 'databases, worker logs, Postfix maillog' });
}

await main();
