import type { ClaimedDelivery, ClaimedWork, DeliveryOutcome, DueKey, EventPublisher, Logger, OutboundMessageRow } from '@mailyard/core';
import type { DkimSigner } from '../delivery/dkim-signer.js';
import type { Destination } from '../delivery/mx.js';
import type { RecipientResult, SmtpPool } from '../delivery/smtp-pool.js';

/**
 * One delivery attempt for the due recipients of one message in one domain (DESIGN.md
 * "Outbound" step 2): claim them, find the domain's MX hosts, sign, deliver to the first host
 * that answers, and record per recipient: delivered, bounced (5xx, null MX, no such domain),
 * deferred (4xx, nobody reachable) until the message expires.
 */

export interface DeliverDeps {
  events: EventPublisher;
  log: Logger;
  /** Claims the due recipients of (message, domain) with the message (claimDueBatch of core's outbound repository, batched). */
  claim(key: DueKey): Promise<ClaimedWork | null>;
  /** Records outcomes (recordOutcomes of core's outbound repository, batched). */
  record(outcomes: DeliveryOutcome[]): Promise<void>;
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

export async function deliverDue(deps: DeliverDeps, settings: DeliverSettings, outboundId: number, domain: string): Promise<DeliverOutcome> {
  const work = await deps.claim({ outboundId, domain });
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
  const outcomes: DeliveryOutcome[] = verdicts.map((v) => {
    if (v.verdict !== 'deferred') return { deliveryId: v.deliveryId, status: v.verdict, reply: v.reply, remoteMta: v.remoteMta };
    const attempts = claimed.find((c) => c.id === v.deliveryId)!.attempts;
    const next = new Date(now + retryDelayMs(settings, attempts));
    if (next.getTime() > expiresAt) return { deliveryId: v.deliveryId, status: 'expired', reply: v.reply, remoteMta: v.remoteMta };
    return { deliveryId: v.deliveryId, status: 'deferred', reply: v.reply, remoteMta: v.remoteMta, nextAttemptAt: next };
  });
  await deps.record(outcomes);

  for (const o of outcomes) {
    outcome[o.status]++;
    if (o.nextAttemptAt && (!outcome.retryAt || o.nextAttemptAt < outcome.retryAt)) outcome.retryAt = o.nextAttemptAt;
  }
  outcome.owesDsn = outcome.bounced + outcome.expired > 0;
  outcome.expiresAt = new Date(expiresAt);
  const recipientOf = new Map(claimed.map((c) => [c.id, c.recipient]));
  if (settings.delayWarningMs !== null && now - createdAt.getTime() >= settings.delayWarningMs) {
    const warned = new Set(claimed.filter((c) => c.delayWarned).map((c) => c.id));
    outcome.delayed = outcomes
      .filter((o) => o.status === 'deferred' && !warned.has(o.deliveryId))
      .map((o) => ({ deliveryId: o.deliveryId, recipient: recipientOf.get(o.deliveryId)!, reply: o.reply, remoteMta: o.remoteMta }));
  }
  await Promise.all(
    outcomes.map((o) =>
      deps.events
        .publish(userId, {
          type: 'delivery.status',
          outboundId,
          sentMessageId,
          recipient: recipientOf.get(o.deliveryId)!,
          status: o.status,
          reply: o.reply,
          nextAttemptAt: o.nextAttemptAt?.toISOString() ?? null,
        })
        .catch(() => undefined),
    ),
  );
  return outcome;
}
