import {
  buildDsn,
  headerBlock,
  ingestMessage,
  loadOutboundMessage,
  markDelayWarned,
  markDsnSent,
  pendingDsns,
  statusFromReply,
  summarizeMessage,
  type Db,
  type DsnRecipient,
  type EventPublisher,
  type Logger,
  type OutboundMessageRow,
} from '@mailyard/core';

/**
 * The sender's copy of the news: an RFC 3464 DSN (multipart/report) filed into their INBOX, for
 * recipients that bounced or expired ("failed"), or, once, for recipients still being retried
 * after a while ("delayed"). The null sender never gets one (RFC 5321 4.5.5: no bounce loops).
 * Recipients are marked only after the DSN is filed, so a crash in between sends it again rather
 * than never.
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

async function fileDsn(deps: Deps, reportingMta: string, message: OutboundMessageRow, recipients: DsnRecipient[]): Promise<void> {
  const dsn = buildDsn({
    reportingMta,
    to: message.mailFrom,
    originalEnvelopeFrom: message.mailFrom,
    arrivalDate: message.createdAt,
    originalHeaders: headerBlock(message.raw),
    originalSubject: message.subject,
    originalMessageId: message.messageIdHeader,
    recipients,
  });
  await ingestMessage(deps, { userId: message.userId, mailbox: { specialUse: '\\Inbox' }, content: { raw: dsn }, summary: await summarizeMessage(dsn) });
}

/** Files the "failed" DSN owed for a message (bounced and expired recipients). */
export async function fileOwedDsn(deps: Deps, reportingMta: string, outboundId: number): Promise<number> {
  const owed = await pendingDsns(deps.db, outboundId);
  if (owed.length === 0) return 0;
  const message = await loadOutboundMessage(deps.db, outboundId);
  const ids = owed.map((r) => r.id);
  if (message && message.mailFrom !== '') {
    await fileDsn(
      deps,
      reportingMta,
      message,
      owed.map((r) => ({
        recipient: r.recipient,
        action: 'failed' as const,
        // Expired: RFC 3463 4.4.7 "delivery time expired"; else what the remote said.
        status: r.status === 'expired' ? '4.4.7' : statusOf(r.last_reply, '5.0.0'),
        remoteMta: remoteMtaOf(r.remote_mta),
        diagnostic: r.last_reply ?? undefined,
        lastAttemptAt: r.updated_at,
      })),
    );
    deps.log.info({ event: 'outbound.dsn_filed', outboundId, userId: message.userId, recipients: owed.map((r) => r.recipient) });
  }
  await markDsnSent(deps.db, ids);
  return message && message.mailFrom !== '' ? owed.length : 0;
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
  const message = await loadOutboundMessage(deps.db, outboundId);
  if (message && message.mailFrom !== '') {
    const now = new Date();
    await fileDsn(
      deps,
      reportingMta,
      message,
      recipients.map((r) => ({
        recipient: r.recipient,
        action: 'delayed' as const,
        status: statusOf(r.reply, '4.0.0'),
        remoteMta: remoteMtaOf(r.remoteMta),
        diagnostic: r.reply ?? undefined,
        lastAttemptAt: now,
        willRetryUntil,
      })),
    );
    deps.log.info({ event: 'outbound.delay_warned', outboundId, userId: message.userId, recipients: recipients.map((r) => r.recipient) });
  }
  await markDelayWarned(
    deps.db,
    recipients.map((r) => r.deliveryId),
  );
}
