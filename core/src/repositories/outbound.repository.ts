import { sql } from 'kysely';
import type { DbOrTx } from '../db/client.js';
import type { DeliveryStatus } from '../db/schema.js';
import { asBase64, blobHash, bytesOf } from './blob.repository.js';

/**
 * The store side of outbound mail (tables outbound_messages, deliveries, delivery_events;
 * migration 0008): recording a message that leaves, the per-recipient delivery state the outbound
 * worker works from, and the delivery log the sender reads. The worker's methods take outbound and
 * delivery ids (its jobs carry ids and run for no user); the sender's view is scoped by owner.
 * The worker's SMTP side lives in outbound-worker/.
 */

export interface OutboundRecipient {
  address: string;
  /** The address's domain, lower-cased (domainOf in core/src/mail/address.ts): remote delivery is grouped by it. */
  domain: string;
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

/** What the log says for a recipient on this server (filed at once, no SMTP). */
const LOCAL_DELIVERY_REPLY = 'filed into the local mailbox';

// The worker's view

export interface ClaimedDelivery {
  id: number;
  recipient: string;
  attempts: number;
  delayWarned: boolean;
  /** This claim's lease (`<owner>#<attempt>`): its outcome is recorded only while the row still carries it. */
  leaseToken: string;
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

/** A (message, domain) pair whose due recipients a worker wants to deliver. */
export interface DueKey {
  outboundId: number;
  domain: string;
}

export function dueKey(k: DueKey): string {
  return `${k.outboundId} ${k.domain}`;
}

export interface ClaimedWork {
  /** `raw` is null for a message over the claim's inline limit: load it with loadBytes. */
  message: Omit<OutboundMessageRow, 'raw'> & { raw: Buffer | null; size: number };
  claimed: ClaimedDelivery[];
}

/** Messages up to this size come with their claim; bigger ones are loaded when their turn comes. */
export const INLINE_MESSAGE_BYTES = 256 * 1024;

export interface DeliveryOutcome {
  deliveryId: number;
  /** The lease token of the claim the outcome comes from (ClaimedDelivery.leaseToken). */
  leaseToken: string;
  status: Exclude<DeliveryStatus, 'queued'>;
  reply: string | null;
  remoteMta: string | null;
  /** For 'deferred': when to try again. */
  nextAttemptAt?: Date;
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

// The administrator's view (the outbound queue in the admin panel)

/** A recipient still waiting (or just settled by an admin), with its sender. */
export interface QueuedDeliveryRow {
  id: number;
  outboundId: number;
  sender: string;
  recipient: string;
  domain: string;
  subject: string;
  status: DeliveryStatus;
  attempts: number;
  lastReply: string | null;
  remoteMta: string | null;
  nextAttemptAt: Date;
  /** A worker holds the lease: it is talking to the remote server now. */
  inProgress: boolean;
  createdAt: Date;
}

/** Whose deliveries an administrator sees: all, or those of senders in these domains. */
export interface SenderScope {
  senderDomainIds?: number[];
}

/** Why a retry or cancel did not happen. */
export type QueueActionRefusal = 'not_found' | 'not_pending' | 'in_progress';

/** What the log says for a recipient an administrator cancelled (a 5xx reply: the sender's DSN quotes it). */
export const CANCELLED_DELIVERY_REPLY = '550 5.0.0 Delivery cancelled by an administrator';

/** The columns of outbound_messages a worker needs, as selected by the queries below. */
interface OutboundColumns {
  user_id: number;
  sent_message_id: number | null;
  mail_from: string;
  message_id_header: string | null;
  subject: string;
  dkim_domain: string | null;
  created_at: Date;
}

function toOutboundMessage<R>(id: number, r: OutboundColumns, raw: R): Omit<OutboundMessageRow, 'raw'> & { raw: R } {
  return {
    id,
    userId: Number(r.user_id),
    sentMessageId: r.sent_message_id === null ? null : Number(r.sent_message_id),
    mailFrom: r.mail_from,
    messageIdHeader: r.message_id_header,
    subject: r.subject,
    dkimDomain: r.dkim_domain,
    createdAt: r.created_at,
    raw,
  };
}

export function createOutboundRepository(db: DbOrTx) {
  return {
    /**
     * Records a message and its recipients, all or nothing: inside the caller's transaction when
     * there is one (the sender's Sent copy commits with it), else in one of its own. The blob
     * must already be stored.
     */
    async record(input: NewOutbound): Promise<RecordedOutbound> {
      const write = async (tx: DbOrTx): Promise<RecordedOutbound> => {
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
              domain: r.domain,
              status: r.local ? ('delivered' as const) : ('queued' as const),
              remote_mta: r.local ? 'local' : null,
              last_reply: r.local ? LOCAL_DELIVERY_REPLY : null,
              attempts: r.local ? 1 : 0,
            })),
          )
          .onConflict((oc) => oc.columns(['outbound_id', 'recipient']).doNothing())
          .returning(['id', 'status', 'remote_mta'])
          .execute();
        await tx
          .insertInto('delivery_events')
          .values(rows.map((r) => ({ delivery_id: r.id, status: r.status, remote_mta: r.remote_mta, reply: r.status === 'delivered' ? LOCAL_DELIVERY_REPLY : null, next_attempt_at: null })))
          .execute();
        const remoteDomains = [...new Set(input.recipients.filter((r) => !r.local).map((r) => r.domain))];
        return { outboundId, remoteDomains };
      };
      return db.isTransaction ? write(db) : db.transaction().execute(write);
    },

    async loadMessage(outboundId: number): Promise<OutboundMessageRow | undefined> {
      const row = await db
        .selectFrom('outbound_messages')
        .innerJoin('blobs', 'blobs.hash', 'outbound_messages.blob_hash')
        .select([
          'outbound_messages.user_id',
          'outbound_messages.sent_message_id',
          'outbound_messages.mail_from',
          'outbound_messages.message_id_header',
          'outbound_messages.subject',
          'outbound_messages.dkim_domain',
          'outbound_messages.created_at',
        ])
        .select(asBase64('blobs.data').as('data'))
        .where('outbound_messages.id', '=', outboundId)
        .executeTakeFirst();
      return row ? toOutboundMessage(outboundId, row, bytesOf(row.data)) : undefined;
    },

    async loadBytes(outboundId: number): Promise<Buffer | null> {
      const row = await db
        .selectFrom('outbound_messages')
        .innerJoin('blobs', 'blobs.hash', 'outbound_messages.blob_hash')
        .select(asBase64('blobs.data').as('data'))
        .where('outbound_messages.id', '=', outboundId)
        .executeTakeFirst();
      return row ? bytesOf(row.data) : null;
    },

    /**
     * Takes the lease on the recipients of each (message, domain) that are due: pending, their time
     * has come (a second of slack: a delayed job may fire a hair early), nobody else holds them. Two
     * workers (or a job and its stalled re-run) never get the same recipient at once; each claimed
     * recipient counts one more attempt. One statement for many pairs (the worker batches its jobs'
     * claims), returning the message with its bytes once per pair. Pairs with nothing due are absent.
     * Each claimed row gets the lease token `<owner>#<attempt>`: unique per claim (the attempt count
     * only grows), so an outcome from an older claim is fenced out by recordOutcomes.
     */
    async claimDueBatch(wants: DueKey[], leaseMs: number, owner: string, inlineBytes = INLINE_MESSAGE_BYTES): Promise<Map<string, ClaimedWork>> {
      const result = new Map<string, ClaimedWork>();
      if (wants.length === 0) return result;
      const { rows } = await sql<
        OutboundColumns & {
          id: number;
          outbound_id: number;
          domain: string;
          recipient: string;
          attempts: number;
          delay_warned: boolean;
          lease_token: string;
          size: number;
          data: string | null;
        }
      >`
        WITH want AS (
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(wants.map((w) => ({ outbound_id: w.outboundId, domain: w.domain })))}::jsonb) AS w(outbound_id bigint, domain text)
        ), claimed AS (
          UPDATE deliveries d
          SET locked_until = now() + ${`${leaseMs} milliseconds`}::interval, attempts = d.attempts + 1, updated_at = now(),
              lease_token = ${owner} || '#' || (d.attempts + 1)
          FROM want w
          WHERE d.outbound_id = w.outbound_id AND d.domain = w.domain
            AND d.status IN ('queued', 'deferred')
            AND d.next_attempt_at <= now() + interval '1 second'
            AND (d.locked_until IS NULL OR d.locked_until < now())
          RETURNING d.id, d.outbound_id, d.domain, d.recipient, d.attempts, d.delay_warned, d.lease_token
        )
        SELECT c.id, c.outbound_id, c.domain, c.recipient, c.attempts, c.delay_warned, c.lease_token,
               o.user_id, o.sent_message_id, o.mail_from, o.message_id_header, o.subject, o.dkim_domain, o.created_at, o.size,
               CASE WHEN o.size <= ${inlineBytes} AND row_number() OVER (PARTITION BY c.outbound_id, c.domain ORDER BY c.id) = 1 THEN encode(b.data, 'base64') END AS data
        FROM claimed c
        JOIN outbound_messages o ON o.id = c.outbound_id
        JOIN blobs b ON b.hash = o.blob_hash
        ORDER BY c.outbound_id, c.domain, c.id`.execute(db);
      for (const r of rows) {
        const key = dueKey({ outboundId: Number(r.outbound_id), domain: r.domain });
        let work = result.get(key);
        if (!work) {
          work = { message: { ...toOutboundMessage(Number(r.outbound_id), r, bytesOf(r.data)), size: r.size }, claimed: [] };
          result.set(key, work);
        }
        work.claimed.push({ id: Number(r.id), recipient: r.recipient, attempts: r.attempts, delayWarned: r.delay_warned, leaseToken: r.lease_token });
      }
      return result;
    },

    /** claimDueBatch for one pair: the claimed recipients (empty when nothing is due). */
    async claimDue(outboundId: number, domain: string, leaseMs: number, owner = 'claim'): Promise<ClaimedDelivery[]> {
      const work = await this.claimDueBatch([{ outboundId, domain }], leaseMs, owner);
      return work.get(dueKey({ outboundId, domain }))?.claimed ?? [];
    },

    /**
     * Records what happened to claimed recipients, in one statement (one commit, however many
     * recipients and messages — the worker batches its jobs' outcomes): the new state, the lease
     * released, one log entry each. Bounced and expired recipients are marked for a DSN.
     * Fenced by lease: a row is changed only while it is pending and still carries the outcome's
     * lease token, so a worker whose lease ran out and was taken over (or an outcome recorded
     * twice) changes nothing. Returns the delivery ids whose outcome was dropped that way.
     */
    async recordOutcomes(outcomes: DeliveryOutcome[]): Promise<{ fenced: number[] }> {
      if (outcomes.length === 0) return { fenced: [] };
      const rows = outcomes.map((o) => ({
        id: o.deliveryId,
        lease_token: o.leaseToken,
        status: o.status,
        reply: o.reply,
        remote_mta: o.remoteMta,
        next_attempt_at: o.nextAttemptAt?.toISOString() ?? null,
      }));
      const { rows: recorded } = await sql<{ id: number }>`
        WITH v AS (
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(id bigint, lease_token text, status text, reply text, remote_mta text, next_attempt_at timestamptz)
        ), u AS (
          UPDATE deliveries d
          SET status = v.status, last_reply = v.reply, remote_mta = v.remote_mta, locked_until = NULL, lease_token = NULL, updated_at = now(),
              dsn_pending = v.status IN ('bounced', 'expired'), next_attempt_at = COALESCE(v.next_attempt_at, d.next_attempt_at)
          FROM v WHERE d.id = v.id AND d.lease_token = v.lease_token AND d.status IN ('queued', 'deferred')
          RETURNING d.id
        ), logged AS (
          INSERT INTO delivery_events (delivery_id, status, reply, remote_mta, next_attempt_at)
          SELECT v.id, v.status, v.reply, v.remote_mta, v.next_attempt_at FROM v JOIN u ON u.id = v.id
        )
        SELECT id FROM u`.execute(db);
      const kept = new Set(recorded.map((r) => Number(r.id)));
      return { fenced: outcomes.map((o) => o.deliveryId).filter((id) => !kept.has(id)) };
    },

    /** Recipients whose DSN is owed, grouped by message (bounced/expired, dsn_pending). */
    /** Recipients owed a "failed" DSN. With `lock` (in a transaction), the rows stay locked until it ends. */
    async pendingDsns(outboundId: number, options: { lock?: boolean } = {}) {
      const query = db
        .selectFrom('deliveries')
        .select(['id', 'recipient', 'status', 'last_reply', 'remote_mta', 'updated_at'])
        .where('outbound_id', '=', outboundId)
        .where('dsn_pending', '=', true)
        .orderBy('id');
      return (options.lock ? query.forUpdate() : query).execute();
    },

    /** Of these deliveries, those not yet warned about a delay, locked until the transaction ends. */
    async lockUnwarned(deliveryIds: number[]): Promise<number[]> {
      if (deliveryIds.length === 0) return [];
      const rows = await db.selectFrom('deliveries').select('id').where('id', 'in', deliveryIds).where('delay_warned', '=', false).orderBy('id').forUpdate().execute();
      return rows.map((r) => r.id);
    },

    /** Recipients told about a delay (they are not told again). */
    async markDelayWarned(deliveryIds: number[]): Promise<void> {
      if (deliveryIds.length === 0) return;
      await db.updateTable('deliveries').set({ delay_warned: true }).where('id', 'in', deliveryIds).execute();
    },

    async markDsnSent(deliveryIds: number[]): Promise<void> {
      if (deliveryIds.length === 0) return;
      await db.updateTable('deliveries').set({ dsn_pending: false }).where('id', 'in', deliveryIds).execute();
    },

    /**
     * What the reconciler re-enqueues: (message, domain) pairs with recipients that are due (plus
     * `graceMs`, so a job that is simply running late is not doubled) and not leased.
     */
    async listStalled(graceMs: number, limit = 1000): Promise<Array<{ outboundId: number; domain: string; attempts: number }>> {
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
    },

    /** Messages whose DSN is still owed (and not leased): the reconciler files them. */
    async listOwedDsns(limit = 1000): Promise<number[]> {
      const rows = await db
        .selectFrom('deliveries')
        .select('outbound_id')
        .distinct()
        .where('dsn_pending', '=', true)
        .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)]))
        .limit(limit)
        .execute();
      return rows.map((r) => r.outbound_id);
    },

    /**
     * One batch of the retention purge (core/src/housekeeping/outbound-purge.task.ts): up to
     * `limit` of the oldest messages still holding their bytes, created before `settledBefore`,
     * whose every recipient is settled (delivered, bounced, expired), owes no DSN and has not
     * changed since `settledBefore`, let go of their bytes (blob_hash NULL). The row, its
     * deliveries and their log stay: the sender's delivery status and the admin queue read them,
     * and nothing can make a settled recipient pending again (retry and cancel refuse it), so no
     * worker loads the bytes of a purged message. Returns how many and their size; fewer than
     * `limit` means nothing is left to purge. Messages still on their way are looked at again in
     * each batch: only those older than the retention time, a handful.
     */
    async purgeSettled(settledBefore: Date, limit: number): Promise<{ purged: number; bytes: number }> {
      const { rows } = await sql<{ purged: string; bytes: string }>`
        WITH chunk AS (
          SELECT o.id FROM outbound_messages o
          WHERE o.blob_hash IS NOT NULL AND o.created_at < ${settledBefore}
            AND NOT EXISTS (
              SELECT 1 FROM deliveries d
              WHERE d.outbound_id = o.id AND (d.status IN ('queued', 'deferred') OR d.dsn_pending OR d.updated_at >= ${settledBefore})
            )
          ORDER BY o.created_at
          LIMIT ${limit}
        ), purged AS (
          UPDATE outbound_messages o SET blob_hash = NULL FROM chunk WHERE o.id = chunk.id RETURNING o.size
        )
        SELECT count(*) AS purged, coalesce(sum(size), 0) AS bytes FROM purged`.execute(db);
      return { purged: Number(rows[0]!.purged), bytes: Number(rows[0]!.bytes) };
    },

    /** The delivery state of the user's outbound messages, newest first; scoped by owner. */
    async list(userId: number, options: { sentMessageId?: number; before?: number; limit: number }): Promise<OutboundView[]> {
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
    },

    /** Waiting recipients (queued, deferred, or one of them), oldest first, paged by id; scoped by sender domain. */
    async listQueued(options: SenderScope & { status?: 'queued' | 'deferred'; afterId?: number; limit: number }): Promise<QueuedDeliveryRow[]> {
      const statuses = options.status ? [options.status] : (['queued', 'deferred'] as const);
      return queuedQuery(db, options)
        .where('d.status', 'in', statuses)
        .$if(options.afterId !== undefined, (q) => q.where('d.id', '>', options.afterId!))
        .orderBy('d.id')
        .limit(options.limit)
        .execute()
        .then((rows) => rows.map(toQueuedDelivery));
    },

    /** One delivery, whatever its state, if it is within the scope. */
    async getQueued(id: number, scope: SenderScope): Promise<QueuedDeliveryRow | undefined> {
      const row = await queuedQuery(db, scope).where('d.id', '=', id).executeTakeFirst();
      return row ? toQueuedDelivery(row) : undefined;
    },

    /**
     * Retry now: a waiting recipient no worker holds becomes due at once. Returns the job that
     * wakes a worker for it — named by the highest attempt count of its (message, domain), as the
     * worker names its delayed retry — or why nothing changed.
     */
    async retryNow(id: number, scope: SenderScope): Promise<{ outboundId: number; domain: string; attempts: number } | QueueActionRefusal> {
      const refusal = await refusalFor(db, id, scope);
      if (refusal) return refusal;
      const row = await db
        .updateTable('deliveries')
        .set({ next_attempt_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
        .where('id', '=', id)
        .where('status', 'in', ['queued', 'deferred'])
        .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)]))
        .returning(['outbound_id', 'domain'])
        .executeTakeFirst();
      if (!row) return 'in_progress'; // taken by a worker (or settled) since the check
      const { attempts } = await db
        .selectFrom('deliveries')
        .select(sql<number>`coalesce(max(attempts), 0)`.as('attempts'))
        .where('outbound_id', '=', row.outbound_id)
        .where('domain', '=', row.domain)
        .where('status', 'in', ['queued', 'deferred'])
        .executeTakeFirstOrThrow();
      return { outboundId: row.outbound_id, domain: row.domain, attempts: Number(attempts) };
    },

    /**
     * Cancel: a waiting recipient no worker holds is given up, as a bounce with
     * CANCELLED_DELIVERY_REPLY, logged, and owed a DSN (the outbound worker files it), so the
     * sender learns the message did not go — as for any other recipient given up on.
     */
    async cancel(id: number, scope: SenderScope): Promise<true | QueueActionRefusal> {
      const refusal = await refusalFor(db, id, scope);
      if (refusal) return refusal;
      const { rows } = await sql<{ id: number }>`
        WITH u AS (
          UPDATE deliveries
          SET status = 'bounced', last_reply = ${CANCELLED_DELIVERY_REPLY}, remote_mta = NULL, locked_until = NULL, dsn_pending = true, updated_at = now()
          WHERE id = ${id} AND status IN ('queued', 'deferred') AND (locked_until IS NULL OR locked_until < now())
          RETURNING id
        )
        INSERT INTO delivery_events (delivery_id, status, reply)
        SELECT id, 'bounced', ${CANCELLED_DELIVERY_REPLY} FROM u
        RETURNING delivery_id AS id`.execute(db);
      return rows.length > 0 ? true : 'in_progress';
    },
  };
}
export type OutboundRepository = ReturnType<typeof createOutboundRepository>;

/** Deliveries with their sender and subject, within a sender scope. */
function queuedQuery(db: DbOrTx, scope: SenderScope) {
  return db
    .selectFrom('deliveries as d')
    .innerJoin('outbound_messages as o', 'o.id', 'd.outbound_id')
    .innerJoin('users as u', 'u.id', 'd.user_id')
    .select([
      'd.id',
      'd.outbound_id',
      'u.address as sender',
      'd.recipient',
      'd.domain',
      'o.subject',
      'd.status',
      'd.attempts',
      'd.last_reply',
      'd.remote_mta',
      'd.next_attempt_at',
      sql<boolean>`coalesce(d.locked_until > now(), false)`.as('in_progress'),
      'o.created_at',
    ])
    .$if(scope.senderDomainIds !== undefined, (q) => q.where('u.domain_id', 'in', scope.senderDomainIds!.length > 0 ? scope.senderDomainIds! : [-1]));
}

type QueuedColumns = Awaited<ReturnType<ReturnType<typeof queuedQuery>['executeTakeFirstOrThrow']>>;

function toQueuedDelivery(r: QueuedColumns): QueuedDeliveryRow {
  return {
    id: Number(r.id),
    outboundId: Number(r.outbound_id),
    sender: r.sender,
    recipient: r.recipient,
    domain: r.domain,
    subject: r.subject,
    status: r.status,
    attempts: r.attempts,
    lastReply: r.last_reply,
    remoteMta: r.remote_mta,
    nextAttemptAt: r.next_attempt_at,
    inProgress: r.in_progress,
    createdAt: r.created_at,
  };
}

/** Why an admin action on a delivery cannot happen now, or null when it can. */
async function refusalFor(db: DbOrTx, id: number, scope: SenderScope): Promise<QueueActionRefusal | null> {
  const row = await queuedQuery(db, scope).where('d.id', '=', id).executeTakeFirst();
  if (!row) return 'not_found';
  if (row.status !== 'queued' && row.status !== 'deferred') return 'not_pending';
  return row.in_progress ? 'in_progress' : null;
}
