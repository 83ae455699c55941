/** Messages for the component tests, shaped by the contracts. */
import type { MessageDetailDto, MessageListItemDto } from '@mailyard/core/contracts';

export function listItem(id: number, patch: Partial<MessageListItemDto> = {}): MessageListItemDto {
  return {
    id,
    mailboxId: 1,
    threadId: id,
    date: '2024-03-03T10:00:00.000Z',
    from: [{ name: `Sender ${id}`, address: `sender${id}@example.test` }],
    to: [{ name: '', address: 'me@example.test' }],
    subject: `Subject ${id}`,
    snippet: `Snippet ${id}`,
    unread: false,
    starred: false,
    hasAttachments: false,
    size: 1000,
    ...patch,
  };
}

export function detail(id: number, patch: Partial<MessageDetailDto> = {}): MessageDetailDto {
  return {
    id,
    mailboxId: 1,
    threadId: id,
    messageId: `<m${id}@example.test>`,
    date: '2024-03-03T10:00:00.000Z',
    from: [{ name: 'Anna', address: 'anna@example.test' }],
    to: [{ name: '', address: 'me@example.test' }],
    cc: [],
    subject: 'Quarterly plan',
    unread: false,
    starred: false,
    text: 'Plain words',
    html: null,
    hasRemoteContent: false,
    truncated: false,
    attachments: [],
    authentication: null,
    filter: null,
    ...patch,
  };
}
