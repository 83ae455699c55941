#!/usr/bin/env node
// rspamd's own scoring rate on this machine (issue 11: recorded beside the ingest figures): a
// private rspamd from Debian (core/src/local/rspamd.ts: its own directories, loopback ports,
// offline) with a private Redis for Bayes and a dnsmasq that answers every lookup at once
// (NXDOMAIN: no network, and no DNS timeout inflating the figure), scores N generated 5 KB
// messages through Mailyard's engine client (core/src/mail/spam/rspamd.ts, POST /checkv2) with a
// fixed concurrency. Plain Node ESM; run after `npm run build` (or `npm run bench:rspamd`).
//
//   node bench/rspamd.mjs                                   # 1,000 messages, 8 at a time, a worker per core (at most 4)
//   BENCH_MESSAGES=300 node bench/rspamd.mjs                # quick check
//   BENCH_CONCURRENCY=16 BENCH_WORKERS=2 node bench/rspamd.mjs
//
// Bounded: at most BENCH_MESSAGES messages and BENCH_MAX_SECONDS (default 300) of scoring.
// Every process started here is stopped by PID in a finally block; nothing outside bench/.data
// is written except bench/results/rspamd-<timestamp>.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, startLocalRedis, startLocalRspamd } from '../core/dist/local/index.js';
import { createRspamdEngine } from '../core/dist/index.js';
import { benchLog, cleanups, DATA_ROOT, exited, machineInfo, percentile, RESULTS, round, runCleanups, sleep, startChild, stopOnSignals, stopPid } from './lib.mjs';

const PLAN = {
  messages: Number(process.env.BENCH_MESSAGES ?? 1000),
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 8),
  workers: Number(process.env.BENCH_WORKERS ?? Math.min(4, os.availableParallelism())),
  maxSeconds: Number(process.env.BENCH_MAX_SECONDS ?? 300),
  messageBytes: 5 * 1024,
};

const WORDS = 'the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part'.split(' ');

/** A ~5 KB plain-text message, different for each `n` (so rspamd's caches do not flatter it). */
function message(n) {
  const lines = [];
  let size = 0;
  for (let i = 0; size < PLAN.messageBytes; i++) {
    const line = Array.from({ length: 12 }, (_, j) => WORDS[(n * 7 + i * 13 + j * 31) % WORDS.length]).join(' ');
    lines.push(line);
    size += line.length + 2;
  }
  const header = [`From: Sender ${n} <sender${n}@example.org>`, `To: user${n % 50}@example.com`, `Subject: Report ${n}: ${lines[0].slice(0, 30)}`, 'Date: Sun, 6 Dec 2026 12:00:00 +0000', `Message-ID: <bench-${n}@example.org>`, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8'];
  return Buffer.from([...header, '', ...lines, ''].join('\r\n'));
}

/** A resolver that answers every name at once with NXDOMAIN (Debian's dnsmasq, no upstream, `--local=/#/`). */
async function startDns() {
  const port = await freePort();
  const child = startChild('/usr/sbin/dnsmasq', ['--no-daemon', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--pid-file=', '--local=/#/']);
  cleanups.push(() => stopPid(child));
  await sleep(300);
  if (exited(child)) throw new Error(`dnsmasq did not start: ${child.tail()}`);
  return `127.0.0.1:${port}`;
}

async function main() {
  stopOnSignals();
  const dataDir = fs.mkdtempSync(path.join(DATA_ROOT, 'rspamd-'));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const redis = await startLocalRedis({ dataDir, persistent: false });
  cleanups.push(() => redis.stop());
  const dnsServer = await startDns();
  benchLog('starting rspamd (the first start on a machine compiles its expressions: up to a minute)');
  const rspamd = await startLocalRspamd({ redisUrl: redis.url, dnsServer, workers: PLAN.workers });
  cleanups.push(() => rspamd.stop());
  const engine = createRspamdEngine({ url: rspamd.url, timeoutMs: 10_000 });

  // Warm-up (not counted): the workers' first messages load maps and caches.
  for (let i = 0; i < 20; i++) await engine.check({ raw: message(1_000_000 + i), ip: '192.0.2.10', helo: 'mail.example.org', mailFrom: 'sender@example.org', rcptTo: ['user@example.com'] });

  const latencies = [];
  let next = 0;
  let unanswered = 0;
  const actions = {};
  const deadline = performance.now() + PLAN.maxSeconds * 1000;
  const started = performance.now();
  async function lane() {
    while (next < PLAN.messages && performance.now() < deadline) {
      const n = next++;
      const raw = message(n);
      const t0 = performance.now();
      const result = await engine.check({ raw, ip: `192.0.2.${(n % 250) + 1}`, helo: 'mail.example.org', mailFrom: `sender${n}@example.org`, rcptTo: [`user${n % 50}@example.com`] });
      latencies.push(performance.now() - t0);
      if (!result) unanswered++;
      else actions[result.action] = (actions[result.action] ?? 0) + 1;
    }
  }
  await Promise.all(Array.from({ length: PLAN.concurrency }, lane));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const stat = await rspamd.stat();
  const result = {
    bench: 'rspamd',
    at: new Date().toISOString(),
    plan: PLAN,
    machine: machineInfo({ rspamd: stat.version }),
    scored: latencies.length,
    unanswered,
    seconds: round(seconds, 2),
    messagesPerSecond: round(latencies.length / seconds),
    latencyMs: { p50: round(percentile(latencies, 50)), p90: round(percentile(latencies, 90)), p99: round(percentile(latencies, 99)), max: round(latencies.at(-1)) },
    actions,
  };
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, `rspamd-${result.at.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  benchLog(`rspamd scored ${result.scored} messages of 5 KB in ${result.seconds} s: ${result.messagesPerSecond} msg/s at concurrency ${PLAN.concurrency} (p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, unanswered ${unanswered})`);
  benchLog(`written ${path.relative(process.cwd(), file)}`);
}

try {
  fs.mkdirSync(DATA_ROOT, { recursive: true });
  await main();
} finally {
  await runCleanups('rspamd');
}
