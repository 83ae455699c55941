import { describe, expect, it } from 'vitest';
import { adminAuditEntrySchema, appPasswordSchema, mailboxSchema, messageDetailSchema, messageListItemSchema, messageOpResponse, outboundDto } from '../contracts/index.js';
import type { MessageDetail } from '../repositories/message.repository.js';
import {
  attachmentUrl,
  toAdminAuditEntryDto,
  toAppPasswordDto,
  toMailboxDto,
  toMessageDetailDto,
  toMessageListItemDto,
  toMovedStateResponse,
  toOutboundDto,
} from './mappers.js';

const at = new Date('2024-05-06T07:08:09.000Z');
const message: MessageDetail = {
  id: 7,
  mailboxId: 2,
  uid: 31,
  modseq: 99,
  flags: ['\\Flagged', '$Label'],
  internalDate: at,
  size: 1234,
  threadId: 5,
  messageId: '<m7@a.test>',
  subject: 'Hello',
  from: [{ name: 'Ann', address: 'ann@a.test' }],
  to: [{ name: '', address: 'ben@b.test' }],
  snippet: 'Hi Ben',
  hasAttachments: true,
  cc: [],
  inReplyTo: null,
  references: [],
  attachments: [],
  blobHash: Buffer.from('secret-hash'),
  traceHeaders: 'Received: from somewhere\r\n',
  authentication: null,
  filter: null,
};

describe('message mappers', () => {
  it('shows a list item with read/starred from its flags and no store internals', () => {
    const dto = toMessageListItemDto(message);
    expect(dto).toEqual({
      id: 7,
      mailboxId: 2,
      threadId: 5,
      date: '2024-05-06T07:08:09.000Z',
      from: [{ name: 'Ann', address: 'ann@a.test' }],
      to: [{ name: '', address: 'ben@b.test' }],
      subject: 'Hello',
      snippet: 'Hi Ben',
      unread: true,
      starred: true,
      hasAttachments: true,
      size: 1234,
    });
    expect(messageListItemSchema.parse(dto)).toEqual(dto);
  });

  it('shows the reader view with attachment URLs, never the blob hash or trace headers', () => {
    const rendered = {
      text: 'Hi Ben',
      html: '<p>Hi Ben</p>',
      hasRemoteContent: false,
      truncated: true,
      attachments: [{ index: 0, filename: 'a.pdf', contentType: 'application/pdf', size: 10, contentId: null, inline: false }],
    };
    const dto = toMessageDetailDto({ ...message, flags: ['\\Seen'] }, rendered);
    expect(dto).toMatchObject({ id: 7, messageId: '<m7@a.test>', cc: [], unread: false, starred: false, text: 'Hi Ben', html: '<p>Hi Ben</p>', truncated: true });
    expect(dto.attachments).toEqual([{ index: 0, filename: 'a.pdf', contentType: 'application/pdf', size: 10, inline: false, url: '/api/messages/7/attachments/0' }]);
    expect(dto).not.toHaveProperty('blobHash');
    expect(JSON.stringify(dto)).not.toMatch(/secret-hash|Received|"uid"|"modseq"/);
    expect(messageDetailSchema.parse(dto)).toEqual(dto);
    expect(attachmentUrl(7, 3)).toBe('/api/messages/7/attachments/3');
  });

  it('shows how the MX authenticated a received message, and null for a message it did not check', () => {
    const rendered = { text: '', html: null, hasRemoteContent: false, truncated: false, attachments: [] };
    const authentication = {
      spf: { result: 'pass', domain: 'b.test' },
      dkim: { result: 'fail', domain: 'b.test' },
      dmarc: { result: 'pass', domain: 'b.test', policy: 'reject' },
      arc: { result: 'none', domain: null },
    };
    const checked = toMessageDetailDto({ ...message, authentication }, rendered);
    expect(checked.authentication).toEqual(authentication);
    expect(messageDetailSchema.parse(checked)).toEqual(checked);
    expect(toMessageDetailDto(message, rendered).authentication).toBeNull();
  });

  it('answers a move with every message in the target, in id order', () => {
    const dto = toMovedStateResponse({
      target: { id: 4 },
      moved: [{ id: 9, flags: [] }],
      unchanged: [{ id: 3, flags: ['\\Seen', '\\Flagged'] }],
    });
    expect(dto).toEqual({
      messages: [
        { id: 3, mailboxId: 4, unread: false, starred: true },
        { id: 9, mailboxId: 4, unread: true, starred: false },
      ],
    });
    expect(messageOpResponse.parse(dto)).toEqual(dto);
  });
});

describe('other mappers', () => {
  it('shows a mailbox with its counters', () => {
    const dto = toMailboxDto({ id: 1, userId: 8, name: 'INBOX', specialUse: '\\Inbox', uidvalidity: 1, uidnext: 5, highestmodseq: 9, messageCount: 4, unseenCount: 2, totalBytes: 100 });
    expect(dto).toEqual({ id: 1, name: 'INBOX', specialUse: '\\Inbox', total: 4, unread: 2 });
    expect(mailboxSchema.parse(dto)).toEqual(dto);
  });

  it('writes dates as ISO strings and missing ones as null', () => {
    const appPassword = toAppPasswordDto({ id: 2, name: 'phone', createdAt: at, lastUsedAt: null });
    expect(appPassword).toEqual({ id: 2, name: 'phone', createdAt: '2024-05-06T07:08:09.000Z', lastUsedAt: null });
    expect(appPasswordSchema.parse(appPassword)).toEqual(appPassword);

    const audit = toAdminAuditEntryDto({ id: 3, at, actorUserId: null, actorAddress: 'x@a.test', action: 'auth.login_failed', target: null, ip: '192.0.2.1', details: { reason: 'x' } });
    expect(audit.at).toBe('2024-05-06T07:08:09.000Z');
    expect(adminAuditEntrySchema.parse(audit)).toEqual(audit);
  });

  it('shows a delivery log with every recipient and step', () => {
    const dto = toOutboundDto({
      outboundId: 11,
      sentMessageId: 7,
      subject: 'Hello',
      createdAt: at,
      recipients: [
        {
          recipient: 'ben@b.test',
          status: 'deferred',
          attempts: 1,
          lastReply: '451 4.7.1 try later',
          remoteMta: 'mx.b.test',
          nextAttemptAt: at,
          updatedAt: at,
          log: [{ status: 'deferred', reply: '451 4.7.1 try later', remoteMta: 'mx.b.test', nextAttemptAt: null, at }],
        },
      ],
    });
    expect(dto.recipients[0]).toMatchObject({ status: 'deferred', nextAttemptAt: '2024-05-06T07:08:09.000Z', log: [{ nextAttemptAt: null, at: '2024-05-06T07:08:09.000Z' }] });
    expect(outboundDto.parse(dto)).toEqual(dto);
  });
});
