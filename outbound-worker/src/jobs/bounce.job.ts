import {
  buildDsn,
  createOutboundRepository,
  headerBlock,
  openMailboxWrite,
  publishMailboxEvents,
  statusFromReply,
  summarizeMessage,
  type Db,
  type DsnRecipient,
  type EventPublisher,
  type Logger,
  type MailboxWrite,
  type OutboundMessageRow,
  type OutboundRepository,
} from '@mailyard/core';

/**
 * The sender's copy of the news: an RFC 3464 DSN (multipart/report) filed into their INBOX, for
 * recipients that bounced or expired ("failed"), or, once, for recipients still being retried
 * after a while ("delayed"). The null sender never gets one (RFC 5321 4.5.5: no bounce loops).
 * The DSN is filed and its recipients marked in one transaction (see fileOnce): exactly one DSN
 * per reported recipient, even with a crash or a second filer.
 */

type Deps = { db: Db; events: EventPublisher; log: Logger };

/** The enhanced status of a stored reply ("550 5.1.1 …" → 5.1.1), `fallback` when it has none. */
function statusOf(reply: string | null, fallback: string): string {
  const code = Number(/^(\d{3})[ -]/.exec(reply ?? '')?.[1] ?? 0);
  return code >= 400 ? statusFromReply(code, reply!) : fallback;
}

function remoteMtaOf(remoteMta: string | null): string | undefined {
  return remoteMta && remoteMta !== 'local' ? remoteMta : undefined;
}

/**
 * Files a DSN into the sender's INBOX and marks the recipients it reports, in ONE transaction
 * whose first step locks those delivery rows (`claim`): a second filer of the same DSN (the
 * reconciler, another worker) waits, then finds nothing left to report. So each recipient is
 * reported exactly once, and a crash before the commit leaves it owed, not lost.
 */
async function fileOnce<R>(
  deps: Deps,
  reportingMta: string,
  message: OutboundMessageRow | undefined,
  claim: (outbound: OutboundRepository) => Promise<R[]>,
  describe: (rows: R[]) => DsnRecipient[],
  mark: (outbound: OutboundRepository, rows: R[]) => Promise<void>,
): Promise<R[]> {
  const { rows, events } = await deps.db.transaction().execute(async (tx) => {
    const outbound = createOutboundRepository(tx);
    const rows = await claim(outbound);
    if (rows.length === 0) return { rows, events: [] };
    let events: ReturnType<MailboxWrite['events']> = [];
    // The null sender never gets one (RFC 5321 4.5.5): the rows are marked all the same.
    if (message && message.mailFrom !== '') {
      const dsn = buildDsn({
        reportingMta,
        to: message.mailFrom,
        originalEnvelopeFrom: message.mailFrom,
        arrivalDate: message.createdAt,
        originalHeaders: headerBlock(message.raw),
        originalSubject: message.subject,
        originalMessageId: message.messageIdHeader,
        recipients: describe(rows),
      });
      const write = await openMailboxWrite(tx, [message.userId]);
      await write.append(message.userId, [{ mailbox: { specialUse: '\\Inbox' }, content: { raw: dsn }, summary: await summarizeMessage(dsn) }]);
      await write.finish();
      events = write.events();
    }
    await mark(outbound, rows);
    return { rows, events };
  });
  await publishMailboxEvents(deps, events);
  return rows;
}

/** Files the "failed" DSN owed for a message (bounced and expired recipients); returns how many recipients it reported. */
export async function fileOwedDsn(deps: Deps, reportingMta: string, outboundId: number): Promise<number> {
  const outbound = createOutboundRepository(deps.db);
  if ((await outbound.pendingDsns(outboundId)).length === 0) return 0;
  const message = await outbound.loadMessage(outboundId);
  const reported = await fileOnce(
    deps,
    reportingMta,
    message,
    (o) => o.pendingDsns(outboundId, { lock: true }),
    (owed) =>
      owed.map((r) => ({
        recipient: r.recipient,
        action: 'failed' as const,
        // Expired: RFC 3463 4.4.7 "delivery time expired"; else what the remote said.
        status: r.status === 'expired' ? '4.4.7' : statusOf(r.last_reply, '5.0.0'),
        remoteMta: remoteMtaOf(r.remote_mta),
        diagnostic: r.last_reply ?? undefined,
        lastAttemptAt: r.updated_at,
      })),
    (o, owed) => o.markDsnSent(owed.map((r) => r.id)),
  );
  if (message && message.mailFrom !== '' && reported.length > 0) {
    deps.log.info({ event: 'outbound.dsn_filed', outboundId, userId: message.userId, recipients: reported.map((r) => r.recipient) });
    return reported.length;
  }
  return 0;
}

/** Files a "delayed" DSN for recipients still being retried; each recipient is warned once. */
export async function fileDelayWarning(
  deps: Deps,
  reportingMta: string,
  outboundId: number,
  recipients: Array<{ deliveryId: number; recipient: string; reply: string | null; remoteMta: string | null }>,
  willRetryUntil: Date,
): Promise<void> {
  if (recipients.length === 0) return;
  const message = await createOutboundRepository(deps.db).loadMessage(outboundId);
  const now = new Date();
  const warned = await fileOnce(
    deps,
    reportingMta,
    message,
    async (o) => {
      const unwarned = new Set(await o.lockUnwarned(recipients.map((r) => r.deliveryId)));
      return recipients.filter((r) => unwarned.has(r.deliveryId));
    },
    (rows) =>
      rows.map((r) => ({
        recipient: r.recipient,
        action: 'delayed' as const,
        status: statusOf(r.reply, '4.0.0'),
        remoteMta: remoteMtaOf(r.remoteMta),
        diagnostic: r.reply ?? undefined,
        lastAttemptAt: now,
        willRetryUntil,
      })),
    (o, rows) => o.markDelayWarned(rows.map((r) => r.deliveryId)),
  );
  if (message && message.mailFrom !== '' && warned.length > 0) {
    deps.log.info({ event: 'outbound.delay_warned', outboundId, userId: message.userId, recipients: warned.map((r) => r.recipient) });
  }
}
