// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import type { ThreadResponse } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { ThreadReader, type ThreadReaderProps } from './thread-reader';
import { detail, listItem } from './test-fixtures';

afterEach(cleanup);

/** Three messages, given newest first: the reader puts them oldest first. */
const thread: ThreadResponse = {
  threadId: 9,
  messages: [
    listItem(13, { threadId: 9, date: '2024-03-03T12:00:00.000Z', subject: 'Re: Trip', snippet: 'Newest words', from: [{ name: 'Cleo', address: 'cleo@example.test' }] }),
    listItem(11, { threadId: 9, date: '2024-03-03T10:00:00.000Z', subject: 'Trip', snippet: 'First words', from: [{ name: 'Anna', address: 'anna@example.test' }] }),
    listItem(12, { threadId: 9, date: '2024-03-03T11:00:00.000Z', subject: 'Re: Trip', snippet: 'Middle words', unread: true, from: [{ name: 'Ben', address: 'ben@example.test' }] }),
  ],
};

function props(patch: Partial<ThreadReaderProps> = {}): ThreadReaderProps {
  return {
    threadId: 9,
    version: '13,12,11',
    loadThread: vi.fn(async () => thread),
    load: vi.fn(async (id: number) => detail(id, { text: `Text of ${id}` })),
    onBack: vi.fn(),
    ...patch,
  };
}

describe('ThreadReader', () => {
  it('shows the newest message open and the earlier ones collapsed, oldest first, and opens one on a click', async () => {
    const p = props();
    render(<ThreadReader {...p} />);
    await screen.findByText('Text of 13');
    expect(screen.getByRole('heading', { name: 'Re: Trip' })).toBeTruthy();
    expect(screen.getByText('3 messages')).toBeTruthy();
    const collapsed = screen.getAllByRole('button', { expanded: false });
    expect(collapsed.map((b) => b.textContent)).toEqual([expect.stringContaining('Anna'), expect.stringContaining('Ben')]);
    expect(collapsed[0]!.textContent).toContain('First words');
    expect(collapsed[1]!.classList.contains('unread')).toBe(true);
    expect(p.load).toHaveBeenCalledTimes(1);
    expect(p.load).toHaveBeenCalledWith(13, false);

    fireEvent.click(collapsed[0]!);
    await screen.findByText('Text of 11');
    expect(p.load).toHaveBeenCalledWith(11, false);
    expect(screen.getAllByRole('button', { expanded: false })).toHaveLength(1);
    // Each open message is a card of its own, without a subject of its own.
    expect(screen.getAllByRole('article')).toHaveLength(2);
    expect(screen.getAllByRole('heading', { level: 2 })).toHaveLength(1);
  });

  it('archives and deletes the conversation, and stars one message', async () => {
    const onArchive = vi.fn();
    const onTrash = vi.fn();
    const onStar = vi.fn();
    render(<ThreadReader {...props({ onArchive, onTrash, onStar })} />);
    const card = await screen.findByRole('article', { name: 'Message from Anna <anna@example.test>' });
    fireEvent.click(within(card).getByRole('button', { name: '☆ Star' }));
    expect(onStar).toHaveBeenCalledWith(13, true);
    expect(within(card).getByRole('button', { name: '★ Starred' })).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Archive' }));
    expect(onArchive).toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    expect(onTrash).toHaveBeenCalled();
  });

  it('fetches the thread again when its messages change, and says what failed with a retry', async () => {
    let calls = 0;
    const loadThread = vi.fn(async () => {
      calls += 1;
      if (calls === 1) throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
      return thread;
    });
    const { rerender } = render(<ThreadReader {...props({ loadThread })} />);
    expect((await screen.findByRole('alert')).textContent).toContain('Cannot reach the server.');
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    await screen.findByText('3 messages');
    rerender(<ThreadReader {...props({ loadThread, version: '14,13,12,11' })} />);
    await vi.waitFor(() => expect(loadThread).toHaveBeenCalledTimes(3));
  });
  it('has one header block (subject, back, archive, delete) and lets a card in Junk explain itself and go back with "Not spam"', async () => {
    const onNotSpam = vi.fn();
    const p = props({ onArchive: vi.fn(), onTrash: vi.fn(), spam: { junkMailboxId: 1, onNotSpam } });
    render(<ThreadReader {...p} />);
    await screen.findByText('Text of 13');
    expect(screen.getAllByRole('heading').map((h) => h.textContent)).toEqual(['Re: Trip']);
    expect(screen.getAllByRole('button', { name: 'Back to the list' })).toHaveLength(1);
    expect(screen.getAllByRole('button', { name: 'Archive' })).toHaveLength(1);
    fireEvent.click(screen.getByRole('button', { name: 'Archive' }));
    expect(p.onArchive).toHaveBeenCalledOnce();
    expect(screen.getAllByRole('button', { name: 'Why is this in Junk?' })).toHaveLength(1);
    fireEvent.click(screen.getByRole('button', { name: 'Not spam' }));
    expect(onNotSpam).toHaveBeenCalledWith(13, false);
  });
});
