import {
  buildDsn,
  headerBlock,
  ingestMessage,
  loadOutboundMessage,
  markDsnSent,
  pendingDsns,
  statusFromReply,
  summarizeMessage,
  type Db,
  type EventPublisher,
  type Logger,
} from '@mailyard/core';

/**
 * The sender's copy of the bad news: an RFC 3464 DSN (multipart/report) filed into their INBOX
 * for recipients that bounced or expired. The null sender never gets one (RFC 5321 4.5.5: no
 * bounce loops). Recipients are marked only after the DSN is filed, so a crash in between sends
 * it again rather than never.
 */
export async function fileOwedDsn(deps: { db: Db; events: EventPublisher; log: Logger }, reportingMta: string, outboundId: number): Promise<number> {
  const owed = await pendingDsns(deps.db, outboundId);
  if (owed.length === 0) return 0;
  const message = await loadOutboundMessage(deps.db, outboundId);
  const ids = owed.map((r) => r.id);
  if (!message || message.mailFrom === '') {
    await markDsnSent(deps.db, ids);
    return 0;
  }
  const dsn = buildDsn({
    reportingMta,
    to: message.mailFrom,
    originalEnvelopeFrom: message.mailFrom,
    arrivalDate: message.createdAt,
    originalHeaders: headerBlock(message.raw),
    originalSubject: message.subject,
    originalMessageId: message.messageIdHeader,
    recipients: owed.map((r) => {
      const reply = r.last_reply ?? '';
      const code = Number(/^(\d{3})[ -]/.exec(reply)?.[1] ?? 0);
      return {
        recipient: r.recipient,
        action: 'failed' as const,
        // Expired: RFC 3463 4.4.7 "delivery time expired"; else what the remote said.
        status: r.status === 'expired' ? '4.4.7' : code >= 500 ? statusFromReply(code, reply) : '5.0.0',
        remoteMta: r.remote_mta && r.remote_mta !== 'local' ? r.remote_mta : undefined,
        diagnostic: reply || undefined,
        lastAttemptAt: r.updated_at,
      };
    }),
  });
  await ingestMessage(deps, { userId: message.userId, mailbox: { specialUse: '\\Inbox' }, content: { raw: dsn }, summary: await summarizeMessage(dsn) });
  await markDsnSent(deps.db, ids);
  deps.log.info({ event: 'outbound.dsn_filed', outboundId, userId: message.userId, recipients: owed.map((r) => r.recipient) });
  return owed.length;
}
