import { sql } from 'kysely';
import type { Db, DbOrTx } from '../db/client.js';
import type { DeliveryStatus } from '../db/schema.js';
import { blobHash } from '../repositories/blob.repository.js';

/**
 * The store side of outbound mail (tables in migration 0008): recording a message that leaves,
 * the per-recipient delivery state the outbound worker works from, and the delivery log the
 * sender reads. The worker's SMTP side lives in outbound-worker/.
 */

export interface OutboundRecipient {
  address: string;
  /** Filed into a local mailbox already: logged as delivered, never queued. */
  local: boolean;
}

export interface NewOutbound {
  userId: number;
  sentMessageId: number | null;
  raw: Buffer;
  mailFrom: string;
  messageIdHeader: string | null;
  subject: string;
  dkimDomain: string | null;
  recipients: OutboundRecipient[];
}

export interface RecordedOutbound {
  outboundId: number;
  /** One entry per remote domain: the `outbound` jobs to enqueue. */
  remoteDomains: string[];
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** Records a message and its recipients in one transaction. The blob must already be stored. */
export async function recordOutbound(db: Db, input: NewOutbound): Promise<RecordedOutbound> {
  return db.transaction().execute(async (tx) => {
    const { id: outboundId } = await tx
      .insertInto('outbound_messages')
      .values({
        user_id: input.userId,
        sent_message_id: input.sentMessageId,
        blob_hash: blobHash(input.raw),
        size: input.raw.length,
        mail_from: input.mailFrom,
        message_id_header: input.messageIdHeader,
        subject: input.subject.slice(0, 1000),
        dkim_domain: input.dkimDomain,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const rows = await tx
      .insertInto('deliveries')
      .values(
        input.recipients.map((r) => ({
          outbound_id: outboundId,
          user_id: input.userId,
          recipient: r.address,
          domain: domainOf(r.address),
          status: r.local ? ('delivered' as const) : ('queued' as const),
          remote_mta: r.local ? 'local' : null,
          attempts: r.local ? 1 : 0,
        })),
      )
      .onConflict((oc) => oc.columns(['outbound_id', 'recipient']).doNothing())
      .returning(['id', 'status', 'remote_mta'])
      .execute();
    await tx
      .insertInto('delivery_events')
      .values(rows.map((r) => ({ delivery_id: r.id, status: r.status, remote_mta: r.remote_mta, reply: r.status === 'delivered' ? 'filed into the local mailbox' : null, next_attempt_at: null })))
      .execute();
    const remoteDomains = [...new Set(input.recipients.filter((r) => !r.local).map((r) => domainOf(r.address)))];
    return { outboundId, remoteDomains };
  });
}

// The worker's view

export interface ClaimedDelivery {
  id: number;
  recipient: string;
  attempts: number;
  delayWarned: boolean;
}

export interface OutboundMessageRow {
  id: number;
  userId: number;
  sentMessageId: number | null;
  mailFrom: string;
  messageIdHeader: string | null;
  subject: string;
  dkimDomain: string | null;
  createdAt: Date;
  raw: Buffer;
}

export async function loadOutboundMessage(db: DbOrTx, outboundId: number): Promise<OutboundMessageRow | undefined> {
  const row = await db
    .selectFrom('outbound_messages')
    .innerJoin('blobs', 'blobs.hash', 'outbound_messages.blob_hash')
    .select([
      'outbound_messages.id',
      'outbound_messages.user_id',
      'outbound_messages.sent_message_id',
      'outbound_messages.mail_from',
      'outbound_messages.message_id_header',
      'outbound_messages.subject',
      'outbound_messages.dkim_domain',
      'outbound_messages.created_at',
      'blobs.data',
    ])
    .where('outbound_messages.id', '=', outboundId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    id: row.id,
    userId: row.user_id,
    sentMessageId: row.sent_message_id,
    mailFrom: row.mail_from,
    messageIdHeader: row.message_id_header,
    subject: row.subject,
    dkimDomain: row.dkim_domain,
    createdAt: row.created_at,
    raw: row.data,
  };
}

/**
 * Takes the lease on the recipients of (message, domain) that are due: pending, their time has
 * come, nobody else holds them. Two workers (or a job and its stalled re-run) never get the same
 * recipient at once. Each claimed recipient counts one more attempt.
 */
export async function claimDue(db: DbOrTx, outboundId: number, domain: string, leaseMs: number): Promise<ClaimedDelivery[]> {
  const rows = await db
    .updateTable('deliveries')
    .set({ locked_until: sql<Date>`now() + ${`${leaseMs} milliseconds`}::interval`, attempts: sql<number>`attempts + 1`, updated_at: sql<Date>`now()` })
    .where('outbound_id', '=', outboundId)
    .where('domain', '=', domain)
    .where('status', 'in', ['queued', 'deferred'])
    // A second of slack: a delayed job may fire a hair before the time it was computed from.
    .where('next_attempt_at', '<=', sql<Date>`now() + interval '1 second'`)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)]))
    .returning(['id', 'recipient', 'attempts', 'delay_warned'])
    .execute();
  return rows.map((r) => ({ id: r.id, recipient: r.recipient, attempts: r.attempts, delayWarned: r.delay_warned })).sort((a, b) => a.id - b.id);
}

export interface DeliveryOutcome {
  deliveryId: number;
  status: Exclude<DeliveryStatus, 'queued'>;
  reply: string | null;
  remoteMta: string | null;
  /** For 'deferred': when to try again. */
  nextAttemptAt?: Date;
}

/**
 * Records what happened to claimed recipients (one transaction): the new state, the lease
 * released, one log entry each. Bounced and expired recipients are marked for a DSN.
 */
export async function recordOutcomes(db: Db, outcomes: DeliveryOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  await db.transaction().execute(async (tx) => {
    for (const o of outcomes) {
      await tx
        .updateTable('deliveries')
        .set({
          status: o.status,
          last_reply: o.reply,
          remote_mta: o.remoteMta,
          locked_until: null,
          updated_at: sql<Date>`now()`,
          dsn_pending: o.status === 'bounced' || o.status === 'expired',
          ...(o.nextAttemptAt ? { next_attempt_at: o.nextAttemptAt } : {}),
        })
        .where('id', '=', o.deliveryId)
        .execute();
    }
    await tx
      .insertInto('delivery_events')
      .values(outcomes.map((o) => ({ delivery_id: o.deliveryId, status: o.status, reply: o.reply, remote_mta: o.remoteMta, next_attempt_at: o.nextAttemptAt ?? null })))
      .execute();
  });
}

/** Recipients whose DSN is owed, grouped by message (bounced/expired, dsn_pending). */
export async function pendingDsns(db: DbOrTx, outboundId: number) {
  return db
    .selectFrom('deliveries')
    .select(['id', 'recipient', 'status', 'last_reply', 'remote_mta', 'updated_at'])
    .where('outbound_id', '=', outboundId)
    .where('dsn_pending', '=', true)
    .orderBy('id')
    .execute();
}

/** Recipients told about a delay (they are not told again). */
export async function markDelayWarned(db: DbOrTx, deliveryIds: number[]): Promise<void> {
  if (deliveryIds.length === 0) return;
  await db.updateTable('deliveries').set({ delay_warned: true }).where('id', 'in', deliveryIds).execute();
}

export async function markDsnSent(db: DbOrTx, deliveryIds: number[]): Promise<void> {
  if (deliveryIds.length === 0) return;
  await db.updateTable('deliveries').set({ dsn_pending: false }).where('id', 'in', deliveryIds).execute();
}

/**
 * What the reconciler re-enqueues: (message, domain) pairs with recipients that are due (plus
 * `graceMs`, so a job that is simply running late is not doubled) and not leased, and messages
 * whose DSN is still owed.
 */
export async function listStalled(db: DbOrTx, graceMs: number, limit = 1000): Promise<Array<{ outboundId: number; domain: string; attempts: number }>> {
  const rows = await db
    .selectFrom('deliveries')
    .select(['outbound_id', 'domain', sql<number>`max(attempts)`.as('attempts')])
    .where('status', 'in', ['queued', 'deferred'])
    .where('next_attempt_at', '<', sql<Date>`now() - ${`${graceMs} milliseconds`}::interval`)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)]))
    .groupBy(['outbound_id', 'domain'])
    .limit(limit)
    .execute();
  return rows.map((r) => ({ outboundId: r.outbound_id, domain: r.domain, attempts: Number(r.attempts) }));
}

export async function listOwedDsns(db: DbOrTx, limit = 1000): Promise<number[]> {
  const rows = await db.selectFrom('deliveries').select('outbound_id').distinct().where('dsn_pending', '=', true).where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)])).limit(limit).execute();
  return rows.map((r) => r.outbound_id);
}

// The sender's view (API)

export interface DeliveryLogEntry {
  status: string;
  reply: string | null;
  remoteMta: string | null;
  nextAttemptAt: Date | null;
  at: Date;
}

export interface DeliveryView {
  recipient: string;
  status: DeliveryStatus;
  attempts: number;
  lastReply: string | null;
  remoteMta: string | null;
  nextAttemptAt: Date | null;
  updatedAt: Date;
  log: DeliveryLogEntry[];
}

export interface OutboundView {
  outboundId: number;
  sentMessageId: number | null;
  subject: string;
  createdAt: Date;
  recipients: DeliveryView[];
}

/** The delivery state of the user's outbound messages, newest first; scoped by owner. */
export async function listOutbound(db: Db, userId: number, options: { sentMessageId?: number; before?: number; limit: number }): Promise<OutboundView[]> {
  let query = db
    .selectFrom('outbound_messages')
    .select(['id', 'sent_message_id', 'subject', 'created_at'])
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .limit(options.limit);
  if (options.sentMessageId !== undefined) query = query.where('sent_message_id', '=', options.sentMessageId);
  if (options.before !== undefined) query = query.where('id', '<', options.before);
  const messages = await query.execute();
  if (messages.length === 0) return [];
  const deliveries = await db
    .selectFrom('deliveries')
    .select(['id', 'outbound_id', 'recipient', 'status', 'attempts', 'last_reply', 'remote_mta', 'next_attempt_at', 'updated_at'])
    .where('user_id', '=', userId)
    .where(
      'outbound_id',
      'in',
      messages.map((m) => m.id),
    )
    .orderBy('id')
    .execute();
  const events = deliveries.length
    ? await db
        .selectFrom('delivery_events')
        .select(['delivery_id', 'status', 'reply', 'remote_mta', 'next_attempt_at', 'at'])
        .where(
          'delivery_id',
          'in',
          deliveries.map((d) => d.id),
        )
        .orderBy('id')
        .execute()
    : [];
  const logOf = new Map<number, DeliveryLogEntry[]>();
  for (const e of events) {
    const list = logOf.get(e.delivery_id) ?? [];
    list.push({ status: e.status, reply: e.reply, remoteMta: e.remote_mta, nextAttemptAt: e.next_attempt_at, at: e.at });
    logOf.set(e.delivery_id, list);
  }
  return messages.map((m) => ({
    outboundId: m.id,
    sentMessageId: m.sent_message_id,
    subject: m.subject,
    createdAt: m.created_at,
    recipients: deliveries
      .filter((d) => d.outbound_id === m.id)
      .map((d) => ({
        recipient: d.recipient,
        status: d.status,
        attempts: d.attempts,
        lastReply: d.last_reply,
        remoteMta: d.remote_mta,
        nextAttemptAt: d.status === 'queued' || d.status === 'deferred' ? d.next_attempt_at : null,
        updatedAt: d.updated_at,
        log: logOf.get(d.id) ?? [],
      })),
  }));
}
