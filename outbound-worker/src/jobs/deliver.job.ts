import type { ClaimedDelivery, ClaimedWork, DeliveryOutcome, DueKey, EventPublisher, Logger, OutboundMessageRow } from '@mailyard/core';
import type { DkimSigner } from '../delivery/dkim-signer.js';
import type { Destination } from '../delivery/mx.js';
import type { RecipientResult, SmtpPool } from '../delivery/smtp-pool.js';

/**
 * One delivery attempt for the due recipients of one message in one domain (DESIGN.md
 * "Outbound" step 2): claim them, find the domain's MX hosts, sign, deliver to the first host
 * that answers, and record per recipient: delivered, bounced (5xx, null MX, no such domain),
 * deferred (4xx, nobody reachable) until the message expires. Outcomes are fenced by the claim's
 * lease token: when the lease ran out and another worker took the recipients over, this attempt's
 * outcome is logged (`outbound.outcome_fenced`) and dropped: no count, no event, no DSN.
 */

export interface DeliverDeps {
  events: EventPublisher;
  log: Logger;
  /** Claims the due recipients of (message, domain) with the message (claimDueBatch of core's outbound repository, batched). */
  claim(key: DueKey): Promise<ClaimedWork | null>;
  /** Records outcomes (recordOutcomes of core's outbound repository, batched); returns the fenced-out delivery ids. */
  record(outcomes: DeliveryOutcome[]): Promise<number[]>;
  destination(domain: string): Promise<Destination>;
  /**
   * The bytes of a message too big to come with its claim, with a slot among the few large
   * messages the worker holds in memory at once; call `release` when the attempt is over.
   */
  loadLarge(outboundId: number): Promise<{ raw: Buffer | null; release(): void }>;
  pool: SmtpPool;
  signer: DkimSigner;
}

export interface DeliverSettings {
  /** Waits between attempts: attempt n waits retrySchedule[n-1] (the last entry repeats). */
  retryScheduleMs: number[];
  /** A message older than this is returned to its sender instead of deferred again. */
  expireAfterMs: number;
  leaseMs: number;
  /** A message still undelivered after this long gets one "delayed" DSN to its sender; null: never. */
  delayWarningMs: number | null;
}

export interface DeliverOutcome {
  claimed: number;
  delivered: number;
  deferred: number;
  bounced: number;
  expired: number;
  /** When the deferred ones are due again (the caller schedules the next job). */
  retryAt: Date | null;
  /** The attempt count after this one (names the next job). */
  attempts: number;
  /** Bounced or expired recipients: a DSN is owed. */
  owesDsn: boolean;
  /** Deferred recipients whose sender should now hear that the message is delayed. */
  delayed: Array<{ deliveryId: number; recipient: string; reply: string | null; remoteMta: string | null }>;
  /** When the message expires (the "Will-Retry-Until" of a delay warning). */
  expiresAt: Date | null;
}

export function retryDelayMs(settings: Pick<DeliverSettings, 'retryScheduleMs'>, attempts: number): number {
  const schedule = settings.retryScheduleMs;
  return schedule[Math.min(Math.max(attempts, 1), schedule.length) - 1]!;
}

type Verdicts = Array<RecipientResult & { deliveryId: number; remoteMta: string | null }>;

async function attempt(deps: DeliverDeps, message: OutboundMessageRow, domain: string, claimed: ClaimedDelivery[]): Promise<Verdicts> {
  const all = (verdict: RecipientResult['verdict'], reply: string, remoteMta: string | null = null): Verdicts =>
    claimed.map((c) => ({ deliveryId: c.id, recipient: c.recipient, verdict, reply, remoteMta }));

  const destination = await deps.destination(domain);
  if (destination.kind === 'null-mx') return all('bounced', `556 5.1.10 ${domain} accepts no mail (null MX, RFC 7505)`);
  if (destination.kind === 'no-domain') return all('bounced', `550 5.1.2 ${domain}: no such domain (DNS NXDOMAIN)`);
  if (destination.kind === 'temp-failure') return all('deferred', `451 4.4.3 DNS lookup for ${domain} failed: ${destination.reason}`);
  if (destination.kind === 'private') return all('bounced', `550 5.4.4 ${domain} ${destination.reason} (set OUTBOUND_ALLOW_PRIVATE=true to allow)`);

  const signed = await deps.signer.sign(message.raw, message.dkimDomain);
  let lastFailure = `451 4.4.1 no MX host of ${domain} answered`;
  for (const host of destination.hosts) {
    for (const ip of host.addresses) {
      const result = await deps.pool.deliver({ ip, exchange: host.exchange }, { from: message.mailFrom, to: claimed.map((c) => c.recipient) }, signed.raw);
      if (result.kind === 'unreachable') {
        lastFailure = `${host.exchange}[${ip}]: ${result.reply}`;
        deps.log.info({ event: 'outbound.host_unreachable', outboundId: message.id, host: host.exchange, ip, reply: result.reply });
        continue;
      }
      const byRecipient = new Map(result.results.map((r) => [r.recipient, r]));
      return claimed.map((c) => ({ ...byRecipient.get(c.recipient)!, deliveryId: c.id, remoteMta: host.exchange }));
    }
  }
  // Nobody answered: try again later.
  return all('deferred', lastFailure);
}

/**
 * Records the outcomes, retrying while the store is out of reach (PostgreSQL restarting) for as
 * long as the claim's lease lasts: a delivery the remote accepted must be written down, or it is
 * sent again once the lease expires. Close to the lease's end another worker may claim the
 * recipients, so it gives up and the delivery is at-least-once, as with any MTA.
 */
export async function recordWithinLease(deps: Pick<DeliverDeps, 'record' | 'log'>, decided: DeliveryOutcome[], leaseEnds: number): Promise<number[]> {
  for (let waitMs = 250; ; waitMs = Math.min(waitMs * 2, 4_000)) {
    try {
      return await deps.record(decided);
    } catch (err) {
      if (Date.now() + waitMs >= leaseEnds - 1_000) throw err;
      deps.log.warn({ event: 'outbound.record_retry', err: (err as Error).message, retryInMs: waitMs, deliveries: decided.length });
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

export async function deliverDue(deps: DeliverDeps, settings: DeliverSettings, outboundId: number, domain: string): Promise<DeliverOutcome> {
  const work = await deps.claim({ outboundId, domain });
  const leaseEnds = Date.now() + settings.leaseMs;
  const outcome: DeliverOutcome = { claimed: 0, delivered: 0, deferred: 0, bounced: 0, expired: 0, retryAt: null, attempts: 0, owesDsn: false, delayed: [], expiresAt: null };
  if (!work) return outcome;
  const { claimed } = work;
  outcome.claimed = claimed.length;
  outcome.attempts = Math.max(...claimed.map((c) => c.attempts));
  let release: () => void = () => undefined;

  let verdicts: Verdicts;
  try {
    let raw = work.message.raw;
    if (raw === null) ({ raw, release } = await deps.loadLarge(outboundId));
    if (raw === null) throw new Error('the message bytes are missing');
    verdicts = await attempt(deps, { ...work.message, raw }, domain, claimed);
  } catch (err) {
    // Our side failed (store, signing): count it as a deferral, never as a bounce.
    deps.log.warn({ event: 'outbound.attempt_failed', outboundId, domain, err: (err as Error).message });
    verdicts = claimed.map((c) => ({ deliveryId: c.id, recipient: c.recipient, verdict: 'deferred', reply: `451 4.3.0 local error: ${(err as Error).message}`, remoteMta: null }));
  } finally {
    release();
  }
  const { createdAt, userId, sentMessageId } = work.message;

  const now = Date.now();
  const expiresAt = createdAt.getTime() + settings.expireAfterMs;
  const claimOf = new Map(claimed.map((c) => [c.id, c]));
  const decided: DeliveryOutcome[] = verdicts.map((v) => {
    const { attempts, leaseToken } = claimOf.get(v.deliveryId)!;
    const base = { deliveryId: v.deliveryId, leaseToken, reply: v.reply, remoteMta: v.remoteMta };
    if (v.verdict !== 'deferred') return { ...base, status: v.verdict };
    const next = new Date(now + retryDelayMs(settings, attempts));
    if (next.getTime() > expiresAt) return { ...base, status: 'expired' };
    return { ...base, status: 'deferred', nextAttemptAt: next };
  });
  const fenced = new Set(await recordWithinLease(deps, decided, leaseEnds));
  for (const o of decided.filter((d) => fenced.has(d.deliveryId))) {
    deps.log.warn({ event: 'outbound.outcome_fenced', outboundId, domain, deliveryId: o.deliveryId, leaseToken: o.leaseToken, status: o.status, reply: o.reply });
  }
  const outcomes = decided.filter((d) => !fenced.has(d.deliveryId));

  for (const o of outcomes) {
    outcome[o.status]++;
    if (o.nextAttemptAt && (!outcome.retryAt || o.nextAttemptAt < outcome.retryAt)) outcome.retryAt = o.nextAttemptAt;
  }
  outcome.owesDsn = outcome.bounced + outcome.expired > 0;
  outcome.expiresAt = new Date(expiresAt);
  if (settings.delayWarningMs !== null && now - createdAt.getTime() >= settings.delayWarningMs) {
    const warned = new Set(claimed.filter((c) => c.delayWarned).map((c) => c.id));
    outcome.delayed = outcomes
      .filter((o) => o.status === 'deferred' && !warned.has(o.deliveryId))
      .map((o) => ({ deliveryId: o.deliveryId, recipient: claimOf.get(o.deliveryId)!.recipient, reply: o.reply, remoteMta: o.remoteMta }));
  }
  await Promise.all(
    outcomes.map((o) =>
      deps.events
        .publish(userId, {
          type: 'delivery.status',
          outboundId,
          sentMessageId,
          recipient: claimOf.get(o.deliveryId)!.recipient,
          status: o.status,
          reply: o.reply,
          nextAttemptAt: o.nextAttemptAt?.toISOString() ?? null,
        })
        .catch(() => undefined),
    ),
  );
  return outcome;
}
