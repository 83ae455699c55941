// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { SenderRuleDto } from '@mailyard/core/contracts';
import { toApiError } from '../../api/client';
import { SenderLists, type SenderListsClient } from './sender-lists';

afterEach(cleanup);

const rule = (id: number, kind: 'allow' | 'block', pattern: string): SenderRuleDto => ({ id, kind, pattern, createdAt: '2026-12-01T09:30:00.000Z' });

function client(initial: SenderRuleDto[]): SenderListsClient & { [K in keyof SenderListsClient]: ReturnType<typeof vi.fn> } {
  let next = 100;
  return {
    senderRules: vi.fn(async () => ({ senders: initial })),
    addSenderRule: vi.fn(async (body: { kind: 'allow' | 'block'; pattern: string }) => ({ sender: rule(next++, body.kind, body.pattern.trim().toLowerCase()) })),
    removeSenderRule: vi.fn(async () => undefined),
  };
}

const rows = () => within(screen.getByRole('table')).getAllByRole('row').slice(1);

describe('blocked and allowed senders', () => {
  it('lists each entry with its list, pattern and the date it was added', async () => {
    render(<SenderLists client={client([rule(2, 'block', 'spam.example'), rule(1, 'allow', 'ann@example.com')])} />);
    await waitFor(() => expect(rows()).toHaveLength(2));
    expect(rows().map((r) => [...r.querySelectorAll('td')].slice(0, 2).map((td) => td.textContent))).toEqual([
      ['Blocked', 'spam.example'],
      ['Allowed', 'ann@example.com'],
    ]);
    expect(rows()[0]!.querySelector('time')!.getAttribute('dateTime')).toBe('2026-12-01T09:30:00.000Z');
  });

  it('says so when there is nothing listed', async () => {
    render(<SenderLists client={client([])} />);
    expect(await screen.findByText('No blocked or allowed senders yet.')).toBeTruthy();
  });

  it('adds an address to the allow list and puts focus back in the field', async () => {
    const api = client([rule(1, 'block', 'spam.example')]);
    render(<SenderLists client={api} />);
    await waitFor(() => expect(rows()).toHaveLength(1));
    const field = screen.getByLabelText('Address or domain');
    fireEvent.change(field, { target: { value: 'Bob@Example.com' } });
    fireEvent.change(screen.getByLabelText('List'), { target: { value: 'allow' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add' }));
    await waitFor(() => expect(rows()).toHaveLength(2));
    expect(api.addSenderRule).toHaveBeenCalledWith({ kind: 'allow', pattern: 'Bob@Example.com' });
    expect(rows()[0]!.textContent).toContain('bob@example.com');
    expect(screen.getByRole('status').textContent).toBe('bob@example.com is allowed: its mail goes to the Inbox.');
    expect((field as HTMLInputElement).value).toBe('');
    expect(document.activeElement).toBe(field);
  });

  it("shows the server's words when it refuses an entry, and keeps what was typed", async () => {
    const api = client([]);
    api.addSenderRule.mockRejectedValueOnce(toApiError(400, { error: { code: 'validation.failed', message: 'give an address (ann@example.com) or a domain (example.com)' }, requestId: 'r1' }));
    render(<SenderLists client={api} />);
    await screen.findByText('No blocked or allowed senders yet.');
    fireEvent.change(screen.getByLabelText('Address or domain'), { target: { value: 'not a domain' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Give an address (ann@example.com) or a domain (example.com).');
    expect((screen.getByLabelText('Address or domain') as HTMLInputElement).value).toBe('not a domain');
    expect(screen.getByText('No blocked or allowed senders yet.')).toBeTruthy();
  });

  it('removes an entry and moves focus to the next one', async () => {
    const api = client([rule(3, 'block', 'a.example'), rule(2, 'block', 'b.example'), rule(1, 'allow', 'c@example.com')]);
    render(<SenderLists client={api} />);
    await waitFor(() => expect(rows()).toHaveLength(3));
    fireEvent.click(screen.getByRole('button', { name: 'Remove b.example' }));
    await waitFor(() => expect(rows()).toHaveLength(2));
    expect(api.removeSenderRule).toHaveBeenCalledWith(2);
    expect(screen.getByRole('status').textContent).toBe('b.example was removed from your blocked senders.');
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Remove c@example.com' })));
  });

  it('says what failed when the list cannot be loaded, and retries', async () => {
    const api = client([rule(1, 'block', 'spam.example')]);
    api.senderRules.mockRejectedValueOnce(toApiError(0, null));
    render(<SenderLists client={api} />);
    expect((await screen.findByRole('alert')).textContent).toContain('Cannot reach the server.');
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    await waitFor(() => expect(rows()).toHaveLength(1));
  });
});
