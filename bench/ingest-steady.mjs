// Steady rate (issue #14, "no growing backlog"): Mailyard fed at fixed rates, each for a fixed time,
// the spool backlog (pending rows) sampled every second and accepted (250) → visible (message.new on
// Redis) measured for every message. Used by bench/smtp-ingest.mjs (target `mailyard-steady`).
//
//   BENCH_STEADY_RATES=100,500   messages per second, one phase each (default 100,500)
//   BENCH_STEADY_SECONDS=60      seconds of sending per phase (default 60)
//   BENCH_STEADY_STACK=npm-start the whole stack as `npm start` runs it (default: smtp-server and
//                                inbound-worker as separate processes, as compose runs them)
//
// Sender: nodemailer over a pool of connections, paced by a fixed schedule (message i due at
// t0 + i/rate). smtp-source cannot pace below one message per second per session and reports no
// per-message reply, and the accepted → visible clock needs each 250's time and its spool id.
import { performance } from 'node:perf_hooks';
import { measureAcceptedToVisible } from './accepted-to-visible.mjs';
import { startMailyardForBench } from './ingest-e2e.mjs';
import { benchLog as log, round, sleep } from './lib.mjs';

const positive = (v, max, what) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new Error(`${what}: ${v} is not a number in (0, ${max}]`);
  return n;
};

export const STEADY_PLAN = {
  rates: (process.env.BENCH_STEADY_RATES ?? '100,500').split(',').map((r) => positive(r, 5000, 'BENCH_STEADY_RATES')),
  seconds: positive(process.env.BENCH_STEADY_SECONDS ?? 60, 600, 'BENCH_STEADY_SECONDS'),
  viaNpmStart: process.env.BENCH_STEADY_STACK === 'npm-start',
  messageBytes: 5120,
  /** One pooled connection per 25 msg/s, at least 4: a connection is never the limit. */
  poolConnections: (rate) => Math.max(4, Math.ceil(rate / 25)),
  warmup: { ratePerSecond: 50, seconds: 2 },
  waitForEventsMs: 120_000,
  recipient: 'user@bench.test',
  sender: 'sender@source.test',
  backlogBound: 'sampled every second from the first message to the last 250; bounded: its largest value in the last third of that window is at most one second of mail (≤ rate rows)',
};

/** Issue #14's targets for accepted → visible p99 at a steady rate (rates without one are reported, not judged). */
export const STEADY_TARGETS = { 100: { p99Ms: 50 }, 500: { p99Ms: 1000 } };

/** Backlog figures from the `[seconds, pending]` samples of a phase at `rate`. */
function backlogOf(samples, rate) {
  const values = samples.map(([, v]) => v);
  const end = samples.at(-1)?.[0] ?? 0;
  const lastThird = samples.filter(([at]) => at >= (end * 2) / 3).map(([, v]) => v);
  const lastThirdMax = lastThird.length > 0 ? Math.max(...lastThird) : null;
  return {
    samples: samples.length,
    max: values.length > 0 ? Math.max(...values) : null,
    last: values.at(-1) ?? null,
    lastThirdMax,
    bounded: lastThirdMax !== null && lastThirdMax <= rate,
  };
}

export async function benchMailyardSteady(runDir) {
  const { rates, seconds, viaNpmStart, messageBytes, recipient, sender, waitForEventsMs } = STEADY_PLAN;
  const m = await startMailyardForBench(runDir, { name: 'mailyard-steady', addresses: [recipient], viaNpmStart });
  const userId = Number((await m.db.query('SELECT id FROM users WHERE address = $1', [recipient])).rows[0].id);
  const alive = () => {
    try {
      m.services.check();
      return true;
    } catch {
      return false;
    }
  };
  const pendingRows = async () => Number((await m.db.query(`SELECT count(*)::bigint AS n FROM spool WHERE status = 'pending' /* bench */`)).rows[0].n);
  const common = { smtpPort: m.smtpPort, redisUrl: m.redisUrl, db: m.db, userId, sender, recipient, messageBytes, waitForEventsMs, alive };
  // Messages filed and not searchable yet (the search index stage's queue, migration 0026).
  const queuedForSearch = async () => Number((await m.db.query('SELECT count(*)::bigint AS n FROM search_pending /* bench */')).rows[0].n);

  await measureAcceptedToVisible({ ...common, ...STEADY_PLAN.warmup, poolConnections: 4, label: 'steady warm-up' });
  const runs = {};
  for (const rate of rates) {
    m.services.check();
    // The search index queue, sampled every second beside the spool backlog: at a steady rate, how
    // far behind filing the search index is ("searchable a moment later": queued / rate seconds).
    const queued = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        queued.push(await queuedForSearch());
        await sleep(1000);
      }
    })();
    const r = await measureAcceptedToVisible({ ...common, ratePerSecond: rate, seconds, poolConnections: STEADY_PLAN.poolConnections(rate), everySecond: pendingRows, label: `steady ${rate} msg/s` }).finally(() => (sampling = false));
    await sampler;
    const drainStart = performance.now();
    let left = await queuedForSearch();
    while (left > 0 && performance.now() - drainStart < 60_000) {
      await sleep(50);
      left = await queuedForSearch();
    }
    const searchIndex = {
      queuedMax: Math.max(0, ...queued),
      queuedLastThirdMax: Math.max(0, ...queued.slice(Math.floor((queued.length * 2) / 3))),
      /** The largest queue as seconds of mail at this rate: how far behind filing search was at most. */
      lagSecondsMax: round(Math.max(0, ...queued) / rate, 2),
      /** null: still not empty after 60 s. */
      emptyAfterPhaseMs: left === 0 ? round(performance.now() - drainStart, 0) : null,
    };
    const backlog = backlogOf(r.everySecond, rate);
    const { everySecond, ...rest } = r;
    const target = STEADY_TARGETS[rate] ?? null;
    // The replies kept up with the schedule: otherwise the backlog was in the sender, not the spool.
    const rateReached = r.accepted >= r.scheduled * 0.98 && r.acceptedPerSecond !== null && r.acceptedPerSecond >= rate * 0.95;
    const p99 = r.acceptedToVisibleMs.p99;
    runs[`rate${rate}`] = {
      ratePerSecond: rate,
      seconds,
      ...rest,
      backlog: { ...backlog, perSecond: everySecond },
      searchIndex: { ...searchIndex, perSecond: queued },
      rateReached,
      target,
      met: target === null ? null : rateReached && r.errors === 0 && r.eventsMissing === 0 && p99 !== null && p99 < target.p99Ms && backlog.bounded,
    };
    log(`steady ${rate} msg/s: ${r.accepted} accepted at ${r.acceptedPerSecond}/s; backlog max ${backlog.max}, last ${backlog.last}, last third max ${backlog.lastThirdMax} (${backlog.bounded ? 'bounded' : 'NOT bounded'}); p99 ${p99} ms${target ? ` (target < ${target.p99Ms} ms)` : ''}; this process's event-loop delay p99 ${r.benchEventLoopDelayMs.p99} ms`);
    log(`  search index queue: max ${searchIndex.queuedMax} (${searchIndex.lagSecondsMax} s of mail), last third max ${searchIndex.queuedLastThirdMax}; ${searchIndex.emptyAfterPhaseMs === null ? `still ${left} queued 60 s after the phase` : `empty ${searchIndex.emptyAfterPhaseMs} ms after the phase`}`);
    // The next phase starts on an empty spool (the measurement waited for every event; this is bounded too).
    const deadline = Date.now() + 60_000;
    while ((await pendingRows()) > 0 && Date.now() < deadline) await sleep(200);
  }
  return { postgres: m.settings, note: `${m.services.note}; a fixed schedule over nodemailer pooled connections`, plan: { ...STEADY_PLAN, poolConnections: Object.fromEntries(rates.map((r) => [r, STEADY_PLAN.poolConnections(r)])) }, runs, memory: m.services.memory() };
}
