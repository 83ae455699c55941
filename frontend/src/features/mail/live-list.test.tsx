// @vitest-environment happy-dom
import { describe, expect, it, vi } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import type { MailboxDto, Me, MessageListItemDto, UserEvent } from '@mailyard/core/contracts';
import { MailApp } from './mail-app';
import { mailScreenTestEnvironment } from './mail-screen-test-env';
import { listItem } from './test-fixtures';

const me: Me = { id: 5, address: 'me@example.test', role: 'user', csrfToken: 'token' };
const inbox: MailboxDto = { id: 1, name: 'INBOX', specialUse: '\\Inbox', total: 1, unread: 0 };

/** The live feed the screen opens, driven by the test. */
class TestEventSource {
  static readonly CLOSED = 2;
  static last: TestEventSource | null = null;
  readyState = 1;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  private listeners = new Map<string, Array<(message: MessageEvent<string>) => void>>();
  constructor() {
    TestEventSource.last = this;
  }
  addEventListener(type: string, listener: (message: MessageEvent<string>) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close() {}
  emit(event: UserEvent, id: string) {
    for (const listener of this.listeners.get(event.type) ?? []) listener({ data: JSON.stringify(event), lastEventId: id } as MessageEvent<string>);
  }
}

/**
 * The API over a store the test fills. Each GET of the Inbox's list reads the store when it is asked;
 * while `held`, its answer waits in `waiting` until the test lets it go, so answers can come in any order.
 */
function controlledApi() {
  const state = { store: [] as MessageListItemDto[], held: true, waiting: [] as Array<() => void> };
  const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  const fetchFake = vi.fn(async (url: string) => {
    const path = new URL(url, 'http://localhost').pathname;
    if (path === '/api/mailboxes') return json({ mailboxes: [inbox] });
    if (path === '/api/mailboxes/1/messages') {
      const answer = json({ messages: [...state.store], nextCursor: null });
      return state.held ? new Promise<Response>((resolve) => state.waiting.push(() => resolve(answer))) : answer;
    }
    return new Response('{}', { status: 404 });
  });
  return { fetchFake, state };
}

mailScreenTestEnvironment(TestEventSource);

describe('the live message list', () => {
  it('shows mail that arrives while the folder’s first page is on its way, whichever answer comes last', async () => {
    const api = controlledApi();
    globalThis.fetch = api.fetchFake as unknown as typeof fetch;
    render(<MailApp me={me} epoch={0} inert={false} onSettings={() => undefined} onSignOut={() => undefined} />);
    const older = listItem(1, { subject: 'Already there', date: '2024-03-03T10:00:00.000Z' });
    const arrived = listItem(2, { subject: 'Just arrived', date: '2024-03-03T11:00:00.000Z' });
    api.state.store = [older];

    // The first page is asked for before the new mail is stored; the event's fetch after it.
    await waitFor(() => expect(api.state.waiting).toHaveLength(1));
    api.state.store = [arrived, older];
    TestEventSource.last!.emit({ type: 'message.new', modseq: 2, mailboxId: 1, messageId: 2, uid: 2, threadId: 2 }, '2');
    await waitFor(() => expect(api.state.waiting).toHaveLength(2));
    // The newer answer comes first, the first page's (without the new mail) last.
    api.state.held = false;
    api.state.waiting[1]!();
    api.state.waiting[0]!();

    await waitFor(() => expect(screen.getAllByRole('option').map((row) => row.querySelector('.subject')?.textContent)).toEqual(['Just arrived', 'Already there']));
  });

  it('applies an event that comes after a page has come in but before the screen has drawn it', async () => {
    const api = controlledApi();
    globalThis.fetch = api.fetchFake as unknown as typeof fetch;
    render(<MailApp me={me} epoch={0} inert={false} onSettings={() => undefined} onSignOut={() => undefined} />);
    api.state.store = [listItem(1, { subject: 'Already there' })];
    await waitFor(() => expect(api.state.waiting).toHaveLength(1));
    api.state.held = false;
    api.state.waiting[0]!();
    // Let the answer reach the list's state (promise steps only); React draws it in a later task.
    for (let step = 0; step < 50; step += 1) await Promise.resolve();
    api.state.store = [listItem(2, { subject: 'Just arrived', date: '2024-03-03T11:00:00.000Z' }), ...api.state.store];
    TestEventSource.last!.emit({ type: 'message.new', modseq: 2, mailboxId: 1, messageId: 2, uid: 2, threadId: 2 }, '2');

    await waitFor(() => expect(screen.getAllByRole('option').map((row) => row.querySelector('.subject')?.textContent)).toEqual(['Just arrived', 'Already there']));
  });
});
