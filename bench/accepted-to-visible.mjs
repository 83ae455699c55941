// Accepted (250) → visible (`message.new` on Redis) at a fixed sending rate, shared by the latency
// phase of bench/smtp-ingest.mjs (target `mailyard`) and the steady-rate phase (bench/ingest-steady.mjs).
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import nodemailer from 'nodemailer';
import { benchLog as log, cleanups, percentile, round, sleep } from './lib.mjs';

const HOST = '127.0.0.1';

/** p50/p90/p99/max/min of an ascending array, rounded to 0.1. */
export function latencySummary(sorted) {
  return {
    p50: round(percentile(sorted, 50), 1),
    p90: round(percentile(sorted, 90), 1),
    p99: round(percentile(sorted, 99), 1),
    max: round(sorted.at(-1), 1),
    min: round(sorted[0], 1),
  };
}

/**
 * Sends `ratePerSecond × seconds` messages on a fixed schedule with nodemailer (pooled, plain SMTP),
 * records when each 250 arrives (with its spool id, `queued as S<id>`) and when the `message.new`
 * event for the filed message arrives on Redis `user:<userId>` (spool_filings maps spool id ->
 * message id, which the event carries). Bounded: sending stops 5 s after its schedule, replies are
 * awaited 60 s at most, events `waitForEventsMs`. `everySecond()` (optional) is sampled once a
 * second from the first message until the last reply: its values come back as `everySecond`
 * ([seconds since start, value]). `alive()` false stops the wait for events early (a service died).
 * The bench process's own event-loop delay is recorded too: when it is high, this process (not
 * Mailyard) was the bottleneck and the clock is late on both ends.
 */
export async function measureAcceptedToVisible({ smtpPort, redisUrl, db, userId, sender, recipient, messageBytes, ratePerSecond, seconds, poolConnections, waitForEventsMs, alive = () => true, everySecond, label = 'latency' }) {
  const total = Math.round(ratePerSecond * seconds);
  const intervalMs = 1000 / ratePerSecond;
  const eventAt = new Map(); // messageId -> performance.now()
  // Filing cost may depend on how much mail is already stored: record it beside the figures.
  const messagesInStoreBefore = Number((await db.query('SELECT count(*)::bigint AS n FROM messages')).rows[0].n);
  const sub = new Redis(redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
  cleanups.push(async () => sub.disconnect());
  await sub.connect();
  sub.on('message', (_channel, text) => {
    const now = performance.now();
    try {
      const event = JSON.parse(text);
      if (event.type === 'message.new' && !eventAt.has(event.messageId)) eventAt.set(event.messageId, now);
    } catch {
      /* not ours */
    }
  });
  await sub.subscribe(`user:${userId}`);

  const transport = nodemailer.createTransport({
    host: HOST,
    port: smtpPort,
    secure: false,
    ignoreTLS: true, // plain SMTP, like smtp-source; STARTTLS would add a handshake per pooled connection only
    pool: true,
    maxConnections: poolConnections,
    maxMessages: Infinity,
    name: 'client.latency.test',
    connectionTimeout: 10_000,
    socketTimeout: 30_000,
  });
  cleanups.push(async () => transport.close());
  // Built here, sent raw: nodemailer's MIME compiler would cost this process CPU at high rates.
  const line = 'Latency probe. '.repeat(5);
  const body = `${line}\r\n`.repeat(Math.max(1, Math.floor((messageBytes - 400) / (line.length + 2))));
  const runId = randomBytes(4).toString('hex');
  const envelope = { from: sender, to: [recipient] };
  const message = (subject, messageId) => ({
    envelope,
    raw: `From: <${sender}>\r\nTo: <${recipient}>\r\nSubject: ${subject}\r\nMessage-ID: ${messageId}\r\nDate: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${body}`,
  });

  // Open the pool's connections before the clock starts.
  await Promise.all(
    Array.from({ length: poolConnections }, (_, i) =>
      transport.sendMail(message(`latency warm-up ${i}`, `<warm-${runId}-${i}@latency.test>`)),
    ),
  );
  await sleep(500);

  log(`${label}: sending ${total} messages at ${ratePerSecond}/s over ${poolConnections} pooled connections…`);
  const samples = [];
  const pending = [];
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const t0 = performance.now();
  const sampled = [];
  let sampling = false;
  const sampler = everySecond
    ? setInterval(() => {
        if (sampling) return; // the previous sample is still running: skip, never pile up
        sampling = true;
        const at = (performance.now() - t0) / 1000;
        everySecond()
          .then((value) => sampled.push([round(at, 1), value]))
          .catch(() => undefined)
          .finally(() => (sampling = false));
      }, 1000)
    : null;
  const sendDeadline = t0 + seconds * 1000 + 5_000;
  for (let i = 0; i < total; i++) {
    const due = t0 + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (performance.now() > sendDeadline) break;
    const sample = { i, submittedAt: performance.now(), acceptedAt: null, spoolId: null, error: null };
    samples.push(sample);
    pending.push(
      transport
        .sendMail(message(`latency ${i}`, `<lat-${runId}-${i}@latency.test>`))
        .then(
          (info) => {
            sample.acceptedAt = performance.now();
            const m = /queued as S(\d+)/.exec(info.response ?? '');
            sample.spoolId = m ? Number(m[1]) : null;
          },
          (err) => {
            sample.error = err.message;
          },
        ),
    );
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  await Promise.race([Promise.all(pending), sleep(60_000)]);
  if (sampler) clearInterval(sampler);
  loopDelay.disable();
  const accepted = samples.filter((s) => s.acceptedAt !== null && s.spoolId !== null);
  const lastReplySeconds = accepted.length > 0 ? (Math.max(...accepted.map((s) => s.acceptedAt)) - t0) / 1000 : null;

  // Wait (bounded) for every accepted message to be filed and its event seen; only the spool ids
  // not yet mapped are asked for again.
  const filings = new Map();
  const deadline = Date.now() + waitForEventsMs;
  for (;;) {
    const unmapped = accepted.filter((s) => !filings.has(s.spoolId)).map((s) => s.spoolId);
    if (unmapped.length > 0) {
      const { rows } = await db.query('SELECT spool_id::bigint AS spool_id, message_id::bigint AS message_id FROM spool_filings WHERE spool_id = ANY($1::bigint[])', [unmapped]);
      for (const r of rows) filings.set(Number(r.spool_id), Number(r.message_id));
    }
    const seen = accepted.filter((s) => eventAt.has(filings.get(s.spoolId))).length;
    if (seen === accepted.length || Date.now() > deadline || !alive()) break;
    await sleep(200);
  }
  await sub.unsubscribe().catch(() => undefined);
  transport.close();

  const visible = [];
  const acceptLatency = [];
  let missing = 0;
  for (const s of accepted) {
    acceptLatency.push(s.acceptedAt - s.submittedAt);
    const at = eventAt.get(filings.get(s.spoolId));
    if (at === undefined) missing += 1;
    else visible.push(at - s.acceptedAt);
  }
  visible.sort((a, b) => a - b);
  acceptLatency.sort((a, b) => a - b);
  const result = {
    method: `nodemailer pool (${poolConnections} connections, plain SMTP, raw ${Buffer.byteLength(message('', '').raw)} B messages), ${ratePerSecond} msg/s for ${seconds} s; 250 time vs Redis message.new time, matched via "queued as S<spoolId>" + spool_filings`,
    messagesInStoreBefore,
    scheduled: total,
    sent: samples.length,
    sendSeconds: round(sendSeconds, 2),
    lastReplySeconds: round(lastReplySeconds, 2),
    accepted: accepted.length,
    /** Over the first message to the last 250: below the rate when replies fell behind the schedule. */
    acceptedPerSecond: lastReplySeconds ? round(accepted.length / lastReplySeconds, 0) : null,
    errors: samples.filter((s) => s.error).length,
    firstError: samples.find((s) => s.error)?.error ?? null,
    eventsMissing: missing,
    acceptedToVisibleMs: latencySummary(visible),
    submitTo250Ms: latencySummary(acceptLatency),
    benchEventLoopDelayMs: { p99: round(loopDelay.percentile(99) / 1e6, 1), max: round(loopDelay.max / 1e6, 1) },
    ...(everySecond ? { everySecond: sampled } : {}),
  };
  log(`${label}: accepted ${accepted.length}/${total}; 250 -> visible p50 ${result.acceptedToVisibleMs.p50} ms, p99 ${result.acceptedToVisibleMs.p99} ms, max ${result.acceptedToVisibleMs.max} ms; missing events ${missing}`);
  return result;
}
