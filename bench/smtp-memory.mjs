#!/usr/bin/env node
// SMTP memory benchmark (issue #12 finding 6): the peak RSS of the smtp-server process while one
// IP holds 100 concurrent MX transactions of 25 MB each, then while they are all committed.
// Plain Node ESM; run after `npm run build` (or use `npm run bench:smtp-memory`, which builds first).
//
//   node bench/smtp-memory.mjs
//   BENCH_ROOT=/tmp/old-checkout node bench/smtp-memory.mjs   # measure another (built) checkout's smtp-server
//   BENCH_DEFAULT_CAPS=1 ...                                   # keep SMTP_MAX_DATA_PER_IP at its default
//   BENCH_KEEP=1 ...                                           # keep bench/.data/memory-* afterwards
//
// Every process started here is stopped by PID in a finally block; nothing outside bench/.data
// is written except bench/results/smtp-memory-<timestamp>.json.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort, startLocalPostgres, startLocalRedis } from '../core/dist/local/index.js';
import { benchLog as log, cleanups, DATA_ROOT, exited, finishRun, machineInfo, memoryKb, pruneOldRuns, RESULTS, ROOT, round, runCleanups, sleep, startChild, stopOnSignals, stopPid, waitForBanner } from './lib.mjs';

const execFileP = promisify(execFile);
const HOST = '127.0.0.1';

/** The workload. Kept here so the JSON records exactly what ran. */
const PLAN = {
  connections: 100,
  /** Just under the default SMTP_MAX_MESSAGE_SIZE (25 MiB). */
  messageBytes: 25 * 1024 * 1024 - 64 * 1024,
  writeChunkBytes: 256 * 1024,
  /** After the last body byte is written, RSS is sampled this long before the transactions are ended. */
  holdMs: 3_000,
  sampleEveryMs: 100,
  /** Bounds: the whole send, and the wait for every final reply. */
  sendTimeoutMs: 300_000,
  finishTimeoutMs: 600_000,
  recipient: 'user@bench.test',
  sender: 'sender@source.test',
};

const benchRoot = path.resolve(process.env.BENCH_ROOT ?? ROOT);
stopOnSignals();

/** `promise`, or a rejection naming `what` after `ms`. */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A raw SMTP client: one reply at a time (multi-line replies joined), no sleeps. */
function smtpConnection(port) {
  const socket = net.connect(port, HOST);
  let buffer = '';
  let lines = [];
  const replies = [];
  const waiters = [];
  let failure = null;
  const deliver = (reply) => (waiters.length > 0 ? waiters.shift().resolve(reply) : replies.push(reply));
  socket.on('data', (chunk) => {
    buffer += chunk.toString('latin1');
    let end;
    while ((end = buffer.indexOf('\r\n')) !== -1) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      lines.push(line);
      if (line[3] !== '-') {
        deliver({ code: Number(line.slice(0, 3)), text: lines.join('\n') });
        lines = [];
      }
    }
  });
  const fail = (err) => {
    failure ??= err;
    for (const w of waiters.splice(0)) w.reject(failure);
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('connection closed')));
  const reply = () => (replies.length > 0 ? Promise.resolve(replies.shift()) : failure ? Promise.reject(failure) : new Promise((resolve, reject) => waiters.push({ resolve, reject })));
  const write = (data) => new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
  return {
    socket,
    reply,
    write,
    async cmd(line) {
      await write(`${line}\r\n`);
      return reply();
    },
  };
}

/** The body lines of one message (`PLAN.messageBytes` long with its header; no line starts with "."). */
function messageParts(index) {
  const header = Buffer.from(`From: <${PLAN.sender}>\r\nTo: <${PLAN.recipient}>\r\nSubject: memory bench ${index}\r\nMessage-ID: <memory-${index}-${Date.now()}@source.test>\r\n\r\n`);
  const line = Buffer.from(`${'0123456789abcdef'.repeat(62)}\r\n`);
  const lines = Math.floor((PLAN.messageBytes - header.length) / line.length);
  const chunkLines = Math.max(1, Math.floor(PLAN.writeChunkBytes / line.length));
  const chunk = Buffer.concat(Array.from({ length: chunkLines }, () => line));
  return { header, chunk, chunks: Math.floor(lines / chunkLines), size: header.length + Math.floor(lines / chunkLines) * chunk.length };
}

/** Samples VmRSS of `pid` until stopped; VmHWM (the kernel's peak) is read at each phase end. */
function rssSampler(pid) {
  let peakRssKb = 0;
  const timer = setInterval(() => {
    const { vmRSSKb } = memoryKb(pid);
    if (vmRSSKb !== null) peakRssKb = Math.max(peakRssKb, vmRSSKb);
  }, PLAN.sampleEveryMs);
  return {
    phase() {
      const { vmHWMKb, vmRSSKb } = memoryKb(pid);
      return { vmHWMKb, vmRSSKb, sampledPeakRssKb: peakRssKb };
    },
    stop: () => clearInterval(timer),
  };
}

async function run(runDir) {
  const dataDir = path.join(runDir, 'mailyard');
  fs.mkdirSync(dataDir, { recursive: true });
  log('starting private PostgreSQL and Redis…');
  const pgServer = await startLocalPostgres({ dataDir });
  cleanups.push(() => pgServer.stop());
  const redisServer = await startLocalRedis({ dataDir });
  cleanups.push(() => redisServer.stop());
  const db = new pg.Pool({ connectionString: pgServer.url, max: 2 });
  cleanups.push(() => db.end());

  const baseEnv = { ...process.env, DATABASE_URL: pgServer.url, REDIS_URL: redisServer.url, DATA_DIR: dataDir, LOG_LEVEL: 'warn', NODE_ENV: 'production' };
  const cli = (...args) => execFileP(process.execPath, [path.join(benchRoot, 'bin', 'mailyard.mjs'), ...args], { cwd: benchRoot, env: baseEnv, timeout: 60_000 });
  await cli('domain', 'add', 'bench.test');
  await cli('user', 'add', PLAN.recipient, '--password', randomBytes(12).toString('base64url'));

  const smtpPort = await freePort();
  const caps = {
    SMTP_MAX_CONNECTIONS_PER_IP: '1000',
    SMTP_MAX_MESSAGES_PER_IP_PER_MINUTE: '100000',
    // The clients wait minutes for their final replies while the commits queue up.
    SMTP_SOCKET_TIMEOUT_MS: '600000',
    // All transactions come from 127.0.0.1: let every one of them into DATA (the worst case for memory).
    ...(process.env.BENCH_DEFAULT_CAPS ? {} : { SMTP_MAX_DATA_PER_IP: '1000' }),
  };
  const serviceEnv = { ...baseEnv, ...caps, SMTP_PORT: String(smtpPort), SUBMISSION_PORT: String(await freePort()), SMTPS_PORT: String(await freePort()), BIND_ADDRESS: HOST, MAIL_HOSTNAME: 'mx.bench.test', DNS_SERVERS: '127.0.0.1:9' };
  log(`starting ${path.join(benchRoot, 'smtp-server', 'dist', 'main.js')}…`);
  const smtp = startChild(process.execPath, [path.join(benchRoot, 'smtp-server', 'dist', 'main.js')], { cwd: benchRoot, env: serviceEnv, logFile: path.join(runDir, 'smtp-server.log') });
  cleanups.push(() => stopPid(smtp, 'SIGTERM', 20_000));
  await waitForBanner(HOST, smtpPort, { child: smtp });
  const idle = memoryKb(smtp.pid);
  const sampler = rssSampler(smtp.pid);
  cleanups.push(() => sampler.stop());

  // Phase 1: every transaction in DATA, each with its whole body sent but not the final dot.
  log(`opening ${PLAN.connections} transactions of ${(PLAN.messageBytes / 1024 / 1024).toFixed(1)} MB from ${HOST}…`);
  const sendStarted = performance.now();
  /** One transaction up to the last body byte; `refused` when a step was not answered as expected. */
  const openTransaction = async (_, i) => {
    const c = smtpConnection(smtpPort);
    c.socket.on('error', () => {});
    const greeting = await c.reply();
    if (greeting.code !== 220) return { c, refused: greeting.text };
    for (const [command, code] of [['EHLO client.source.test', 250], [`MAIL FROM:<${PLAN.sender}>`, 250], [`RCPT TO:<${PLAN.recipient}>`, 250], ['DATA', 354]]) {
      const r = await c.cmd(command);
      if (r.code !== code) return { c, refused: r.text };
    }
    const { header, chunk, chunks, size } = messageParts(i);
    await c.write(header);
    for (let n = 0; n < chunks; n++) await c.write(chunk);
    return { c, size };
  };
  const transactions = await withTimeout(Promise.all(Array.from({ length: PLAN.connections }, openTransaction)), PLAN.sendTimeoutMs, 'sending');
  const sendSeconds = (performance.now() - sendStarted) / 1000;
  await sleep(PLAN.holdMs);
  const held = sampler.phase();
  const inData = transactions.filter((t) => t.size !== undefined);
  log(`${inData.length} in DATA (${transactions.length - inData.length} refused before DATA); VmHWM ${(held.vmHWMKb / 1024).toFixed(0)} MB`);

  // Phase 2: end every transaction and wait for each final reply (bounded).
  const finishStarted = performance.now();
  const finals = await Promise.all(inData.map((t) => withTimeout(t.c.cmd('.'), PLAN.finishTimeoutMs, 'final reply').catch((err) => ({ code: 0, text: err.message }))));
  const finishSeconds = (performance.now() - finishStarted) / 1000;
  const finished = sampler.phase();
  sampler.stop();
  for (const t of transactions) t.c.socket.destroy();
  // Final replies (and refusals before DATA) by their text, without the queue id.
  const replies = {};
  for (const text of [...finals.map((f) => f.text), ...transactions.filter((t) => t.refused).map((t) => `before DATA: ${t.refused}`)]) {
    const key = text.replace(/queued as S\d+/, 'queued as S…');
    replies[key] = (replies[key] ?? 0) + 1;
  }
  const spoolRows = Number((await db.query('SELECT count(*)::int AS n FROM spool')).rows[0].n);
  const tempLeft = fs.existsSync(path.join(dataDir, 'spool-temp')) ? fs.readdirSync(path.join(dataDir, 'spool-temp')).length : null;
  if (exited(smtp)) throw new Error(`smtp-server exited (${smtp.exitCode ?? smtp.signalCode}):\n${smtp.tail()}`);
  return { smtpServer: path.relative(ROOT, path.join(benchRoot, 'smtp-server', 'dist', 'main.js')) || benchRoot, caps, idle, held, finished, sendSeconds: round(sendSeconds), finishSeconds: round(finishSeconds), replies, spoolRows, spoolTempFilesLeft: tempLeft };
}

function printTable(results) {
  const mb = (kb) => (kb === null || kb === undefined ? '—' : `${(kb / 1024).toFixed(0)} MB`);
  const r = results.run;
  if (!r || r.error) return console.log(`\nrun failed: ${r?.error ?? results.error}`);
  console.log(`\nsmtp-server ${r.smtpServer}; ${PLAN.connections} transactions of ${(PLAN.messageBytes / 1024 / 1024).toFixed(1)} MB from one IP`);
  console.log(`  idle                       VmRSS ${mb(r.idle.vmRSSKb)}`);
  console.log(`  all 100 held in DATA       VmHWM ${mb(r.held.vmHWMKb)}   VmRSS ${mb(r.held.vmRSSKb)}   (sent in ${r.sendSeconds} s)`);
  console.log(`  after every final reply    VmHWM ${mb(r.finished.vmHWMKb)}   VmRSS ${mb(r.finished.vmRSSKb)}   (replies in ${r.finishSeconds} s)`);
  console.log(`  spool rows ${r.spoolRows}; temp files left ${r.spoolTempFilesLeft ?? '—'}; replies:`);
  for (const [text, count] of Object.entries(r.replies)) console.log(`    ${String(count).padStart(4)} × ${text}`);
}

async function main() {
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  fs.mkdirSync(DATA_ROOT, { recursive: true });
  pruneOldRuns(DATA_ROOT, 'memory-', (dir) => [path.join(dir, 'mailyard', 'postgres', 'postmaster.pid')]);
  const runDir = path.join(DATA_ROOT, `memory-${stamp}`);
  fs.mkdirSync(runDir, { recursive: true });
  const results = { startedAt: startedAt.toISOString(), command: 'npm run bench:smtp-memory  (= npm run build && node bench/smtp-memory.mjs)', benchRoot, plan: PLAN, machine: machineInfo() };
  let failure = null;
  try {
    results.run = await run(runDir);
  } catch (err) {
    failure = err;
    results.error = err.stack ?? String(err);
  } finally {
    log('stopping everything this benchmark started…');
    await runCleanups('bench');
  }
  results.finishedAt = new Date().toISOString();
  finishRun({ root: ROOT, resultsDir: RESULTS, fileName: `smtp-memory-${stamp}.json`, results, printTable, runDir, failure, kept: 'database, service log' });
}

await main();
