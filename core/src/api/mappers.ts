import type {
  AdminAuditEntryDto,
  AdminDomainDto,
  AdminUserDto,
  AppPasswordDto,
  ContactDto,
  MailboxDto,
  MessageDetailDto,
  MessageListItemDto,
  MessageOpResponse,
  MessageStateDto,
  OutboundDto,
  ScheduledSendDto,
  SenderRuleDto,
} from '../contracts/index.js';
import type { RenderedMessage } from '../mail/render.js';
import type { AuditRow } from '../repositories/audit.repository.js';
import type { Contact } from '../repositories/contact.repository.js';
import type { AppPasswordRow } from '../repositories/credential.repository.js';
import type { DomainRow } from '../repositories/domain.repository.js';
import type { MailboxRow } from '../repositories/mailbox.repository.js';
import type { MessageDetail, MessageListItem } from '../repositories/message.repository.js';
import type { AdminUserView } from '../repositories/user.repository.js';
import type { OutboundView } from '../repositories/outbound.repository.js';
import type { ScheduledSendRow } from '../repositories/scheduled-send.repository.js';
import type { SenderRuleRow } from '../repositories/sender-rule.repository.js';

/**
 * The server side of the API contracts (contracts/): turns what the store and the services return
 * into the shapes the API answers. Only what a contract names leaves: dates become ISO strings,
 * flags become `unread`/`starred`, and internal columns (blob hashes, uids, modseqs) stay behind.
 */

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
const isUnread = (flags: readonly string[]): boolean => !flags.includes('\\Seen');
const isStarred = (flags: readonly string[]): boolean => flags.includes('\\Flagged');

export function toMailboxDto(m: MailboxRow): MailboxDto {
  return { id: m.id, name: m.name, specialUse: m.specialUse, total: m.messageCount, unread: m.unseenCount };
}

export function toMessageListItemDto(m: MessageListItem): MessageListItemDto {
  return {
    id: m.id,
    mailboxId: m.mailboxId,
    threadId: m.threadId,
    date: m.internalDate.toISOString(),
    from: m.from,
    to: m.to,
    subject: m.subject,
    snippet: m.snippet,
    unread: isUnread(m.flags),
    starred: isStarred(m.flags),
    hasAttachments: m.hasAttachments,
    size: m.size,
  };
}

/** Where the API serves a message's attachment (also what inline `cid:` images point at). */
export function attachmentUrl(messageId: number, index: number): string {
  return `/api/messages/${messageId}/attachments/${index}`;
}

/** The reader's view of a message: the stored row plus its rendering (`renderMessage` with `attachmentUrl`). */
export function toMessageDetailDto(message: MessageDetail, rendered: RenderedMessage): MessageDetailDto {
  return {
    id: message.id,
    mailboxId: message.mailboxId,
    threadId: message.threadId,
    messageId: message.messageId,
    date: message.internalDate.toISOString(),
    from: message.from,
    to: message.to,
    cc: message.cc,
    subject: message.subject,
    unread: isUnread(message.flags),
    starred: isStarred(message.flags),
    text: rendered.text,
    html: rendered.html,
    hasRemoteContent: rendered.hasRemoteContent,
    truncated: rendered.truncated,
    attachments: rendered.attachments.map((a) => ({
      index: a.index,
      filename: a.filename,
      contentType: a.contentType,
      size: a.size,
      inline: a.inline,
      url: attachmentUrl(message.id, a.index),
    })),
    authentication: message.authentication,
    filter: message.filter,
  };
}

/** An entry of the user's allow or block list of senders. */
export function toSenderRuleDto(rule: SenderRuleRow): SenderRuleDto {
  return { id: rule.id, kind: rule.kind, pattern: rule.pattern, createdAt: rule.createdAt.toISOString() };
}

export function toMessageStateDto(m: { id: number; mailboxId: number; flags: readonly string[] }): MessageStateDto {
  return { id: m.id, mailboxId: m.mailboxId, unread: isUnread(m.flags), starred: isStarred(m.flags) };
}

/** After a move: every requested message (moved, or already there) in the target, in id order. */
export function toMovedStateResponse(result: {
  target: { id: number };
  moved: ReadonlyArray<{ id: number; flags: readonly string[] }>;
  unchanged: ReadonlyArray<{ id: number; flags: readonly string[] }>;
}): MessageOpResponse {
  const all = [...result.moved, ...result.unchanged].sort((a, b) => a.id - b.id);
  return { messages: all.map((m) => toMessageStateDto({ id: m.id, mailboxId: result.target.id, flags: m.flags })) };
}

export function toOutboundDto(view: OutboundView): OutboundDto {
  return {
    outboundId: view.outboundId,
    sentMessageId: view.sentMessageId,
    subject: view.subject,
    createdAt: view.createdAt.toISOString(),
    recipients: view.recipients.map((r) => ({
      recipient: r.recipient,
      status: r.status,
      attempts: r.attempts,
      lastReply: r.lastReply,
      remoteMta: r.remoteMta,
      nextAttemptAt: iso(r.nextAttemptAt),
      updatedAt: r.updatedAt.toISOString(),
      log: r.log.map((e) => ({ status: e.status, reply: e.reply, remoteMta: e.remoteMta, nextAttemptAt: iso(e.nextAttemptAt), at: e.at.toISOString() })),
    })),
  };
}

/** The stored fields are the send body the user posted (checked by the response schema). */
export function toScheduledSendDto(row: ScheduledSendRow): ScheduledSendDto {
  return { id: row.id, sendAt: row.sendAt.toISOString(), status: row.status, error: row.error, message: row.input as ScheduledSendDto['message'] };
}

export function toAppPasswordDto(r: AppPasswordRow): AppPasswordDto {
  return { id: r.id, name: r.name, createdAt: r.createdAt.toISOString(), lastUsedAt: iso(r.lastUsedAt) };
}

export function toContactDto(c: Contact): ContactDto {
  return { address: c.address, name: c.name, sentCount: c.sentCount, receivedCount: c.receivedCount };
}

export function toAdminDomainDto(d: DomainRow): AdminDomainDto {
  return { id: d.id, name: d.name, createdAt: d.createdAt.toISOString() };
}

export function toAdminUserDto(u: AdminUserView): AdminUserDto {
  return {
    id: u.id,
    address: u.address,
    domain: u.domain,
    role: u.role,
    displayName: u.displayName,
    disabled: u.disabled,
    quotaBytes: u.quotaBytes,
    usedBytes: u.usedBytes,
    totpEnabled: u.totpEnabled,
    createdAt: u.createdAt.toISOString(),
  };
}

export function toAdminAuditEntryDto(r: AuditRow): AdminAuditEntryDto {
  return {
    id: r.id,
    at: r.at.toISOString(),
    actorUserId: r.actorUserId,
    actorAddress: r.actorAddress,
    action: r.action,
    target: r.target,
    ip: r.ip,
    details: r.details,
  };
}
