// @vitest-environment happy-dom
import { describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { MailboxDto, Me, MessageListItemDto } from '@mailyard/core/contracts';
import { groupConversations, messageIdsOf } from './conversations';
import { MailApp } from './mail-app';
import { mailScreenTestEnvironment } from './mail-screen-test-env';
import { listItem } from './test-fixtures';

/** Newest first, as the API lists them: thread 10 has messages 3 and 1, thread 20 has 2. */
const inboxItems: MessageListItemDto[] = [
  listItem(3, { threadId: 10, date: '2024-03-03T12:00:00.000Z', subject: 'Re: Trip', from: [{ name: 'Me', address: 'me@example.test' }] }),
  listItem(2, { threadId: 20, date: '2024-03-03T11:00:00.000Z', subject: 'Budget' }),
  listItem(1, { threadId: 10, date: '2024-03-03T10:00:00.000Z', subject: 'Trip', unread: true, hasAttachments: true, from: [{ name: 'Anna', address: 'anna@example.test' }] }),
];

describe('conversation grouping', () => {
  it('makes one row per thread: the newest message, unread or with attachments if any message is, in the order of the newest', () => {
    const conversations = groupConversations(inboxItems);
    expect(conversations.map((c) => [c.threadId, c.row.id, c.ids])).toEqual([
      [10, 3, [3, 1]],
      [20, 2, [2]],
    ]);
    expect(conversations[0]!.row).toMatchObject({ subject: 'Re: Trip', unread: true, hasAttachments: true, starred: false });
    expect(conversations[0]!.senders).toEqual(['Me', 'Anna']);
    expect(conversations[1]!.row.unread).toBe(false);
  });

  it('shows a message alone in its thread as itself, not a copy (regrouping a long list on every page stays cheap)', () => {
    const conversations = groupConversations(inboxItems);
    expect(conversations[1]!.row).toBe(inboxItems.find((m) => m.id === 2));
    expect(conversations[1]!.senders).toEqual([inboxItems.find((m) => m.id === 2)!.from[0]!.name]);
  });

  it('turns conversation rows back into all their messages', () => {
    const conversations = groupConversations(inboxItems);
    expect(messageIdsOf(conversations, [3])).toEqual([3, 1]);
    expect(messageIdsOf(conversations, [2, 3])).toEqual([2, 3, 1]);
  });
});

const me: Me = { id: 5, address: 'me@example.test', role: 'user', csrfToken: 'token' };
const inbox: MailboxDto = { id: 1, name: 'INBOX', specialUse: '\\Inbox', total: 3, unread: 1 };

/** The API as the mail screen sees it: the Inbox above, every write answered and recorded. */
function fakeApi() {
  const writes: Array<{ path: string; body: unknown }> = [];
  const fetchFake = vi.fn(async (url: string, init?: RequestInit) => {
    const path = new URL(url, 'http://localhost').pathname;
    const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    if (init?.method && init.method !== 'GET') {
      writes.push({ path, body: JSON.parse(String(init.body)) });
      return json({ messages: [] });
    }
    if (path === '/api/mailboxes') return json({ mailboxes: [inbox] });
    if (path === '/api/mailboxes/1/messages') return json({ messages: inboxItems, nextCursor: null });
    if (path === '/api/threads/10') return json({ threadId: 10, messages: [inboxItems[2], inboxItems[0]] });
    if (path.startsWith('/api/messages/')) return json({ ...inboxItems.find((m) => m.id === Number(path.split('/')[3])), cc: [], messageId: null, text: `Body of ${path}`, html: null, hasRemoteContent: false, attachments: [] });
    return new Response('{}', { status: 404 });
  });
  return { fetchFake, writes };
}

class NoEvents {
  static readonly CLOSED = 2;
  readyState = 0;
  addEventListener() {}
  close() {}
}
mailScreenTestEnvironment(NoEvents);

describe('the mail screen grouped by conversation', () => {
  function renderMail() {
    const api = fakeApi();
    globalThis.fetch = api.fetchFake as unknown as typeof fetch;
    render(<MailApp me={me} epoch={0} inert={false} onSettings={() => undefined} onSignOut={() => undefined} />);
    return api;
  }

  it('shows a conversation row with its count, unread when a message is, and acts on all its messages', async () => {
    const { writes } = renderMail();
    await screen.findByText('Re: Trip');
    const rows = screen.getAllByRole('option');
    expect(rows).toHaveLength(2);
    expect(rows[0]!.classList.contains('unread')).toBe(true);
    expect(within(rows[0]!).getByLabelText('2 messages').textContent).toBe('2');
    expect(rows[0]!.textContent).toContain('Me, Anna');
    expect(within(rows[1]!).queryByLabelText(/messages$/)).toBeNull();

    fireEvent.click(screen.getByTitle('Select: Re: Trip'));
    fireEvent.click(within(screen.getByRole('toolbar', { name: 'Selected messages' })).getByRole('button', { name: 'Archive' }));
    await waitFor(() => expect(writes).toEqual([{ path: '/api/messages/archive', body: { ids: [3, 1] } }]));
    expect(screen.getAllByRole('option')).toHaveLength(1);
  });

  it('opens a conversation in the thread reader and marks all its unread messages read', async () => {
    const { writes } = renderMail();
    fireEvent.click(await screen.findByText('Re: Trip'));
    const thread = await screen.findByRole('region', { name: 'Conversation: Re: Trip' });
    expect(within(thread).getByText('2 messages')).toBeTruthy();
    await within(thread).findByText('Body of /api/messages/3');
    expect(within(thread).getByRole('button', { expanded: false }).textContent).toContain('Anna');
    await waitFor(() => expect(writes).toEqual([{ path: '/api/messages/flags', body: { ids: [1], read: true } }]));
  });

  it('switches to single messages and remembers the choice for this user', async () => {
    renderMail();
    await screen.findByText('Re: Trip');
    const toggle = screen.getByRole('button', { name: 'Conversations' });
    expect(toggle.getAttribute('aria-pressed')).toBe('true');
    fireEvent.click(toggle);
    expect(screen.getAllByRole('option')).toHaveLength(3);
    expect(screen.getByRole('button', { name: 'Conversations' }).getAttribute('aria-pressed')).toBe('false');

    cleanup();
    renderMail();
    await screen.findByText('Re: Trip');
    expect(screen.getAllByRole('option')).toHaveLength(3);
    fireEvent.click(screen.getByText('Trip'));
    await screen.findByText('Body of /api/messages/1');
    expect(screen.queryByRole('region', { name: /^Conversation/ })).toBeNull();
  });
});
