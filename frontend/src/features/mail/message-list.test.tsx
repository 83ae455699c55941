// @vitest-environment happy-dom
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { MessageList, ROW_HEIGHT, type MessageListProps } from './message-list';
import { listItem } from './test-fixtures';

// happy-dom does no layout: give the list's scroller a height so the virtualizer has a window to fill.
beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, 'clientHeight', { configurable: true, get: () => 640 });
  Object.defineProperty(HTMLElement.prototype, 'clientWidth', { configurable: true, get: () => 400 });
});
afterEach(cleanup);

function props(patch: Partial<MessageListProps> = {}): MessageListProps {
  return {
    items: [listItem(1)],
    folderName: 'Inbox',
    loading: false,
    loadingMore: false,
    hasMore: false,
    error: null,
    cursor: 0,
    openId: null,
    onOpen: vi.fn(),
    onLoadMore: vi.fn(),
    onRetry: vi.fn(),
    ...patch,
  };
}

describe('MessageList', () => {
  it('shows sender, subject, snippet, date and the attachment and star markers; unread rows are bold', () => {
    render(<MessageList {...props({ items: [listItem(1, { unread: true, hasAttachments: true, starred: true }), listItem(2)] })} />);
    const [first, second] = screen.getAllByRole('option');
    expect(first!.textContent).toContain('Sender 1');
    expect(first!.textContent).toContain('Subject 1');
    expect(first!.textContent).toContain('Snippet 1');
    expect(first!.querySelector('time')!.getAttribute('dateTime')).toBe('2024-03-03T10:00:00.000Z');
    expect(first!.querySelector('time')!.textContent).not.toBe('');
    expect(first!.querySelector('[aria-label="Has attachments"]')).not.toBeNull();
    expect(first!.querySelector('[aria-label="Starred"]')).not.toBeNull();
    expect(first!.classList.contains('unread')).toBe(true);
    expect(second!.classList.contains('unread')).toBe(false);
    expect(second!.querySelector('[aria-label="Starred"]')).toBeNull();
  });

  it('opens a message when its row is clicked', () => {
    const onOpen = vi.fn();
    render(<MessageList {...props({ items: [listItem(1), listItem(2)], onOpen })} />);
    fireEvent.click(screen.getByText('Subject 2'));
    expect(onOpen).toHaveBeenCalledWith(expect.objectContaining({ id: 2 }), 1);
  });

  it('renders only a window of a long folder', () => {
    const items = Array.from({ length: 5000 }, (_, i) => listItem(i + 1));
    render(<MessageList {...props({ items })} />);
    const rows = screen.getAllByRole('option');
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.length).toBeLessThan(60);
  });

  it('asks for the next page when the end of what it has is in view, not before', () => {
    const onLoadMore = vi.fn();
    const { rerender } = render(<MessageList {...props({ items: Array.from({ length: 200 }, (_, i) => listItem(i + 1)), hasMore: true, onLoadMore })} />);
    expect(onLoadMore).not.toHaveBeenCalled();
    rerender(<MessageList {...props({ items: Array.from({ length: 5 }, (_, i) => listItem(i + 1)), hasMore: true, onLoadMore })} />);
    expect(onLoadMore).toHaveBeenCalled();
    expect(screen.getByText('Loading more…')).toBeTruthy();
  });

  it('stays where the user scrolled when the next page arrives, and follows the keyboard row when it moves', () => {
    const page = (n: number) => Array.from({ length: n }, (_, i) => listItem(i + 1));
    const { rerender, container } = render(<MessageList {...props({ items: page(100), hasMore: true, cursor: 2 })} />);
    const scroller = container.querySelector<HTMLElement>('.list-scroller')!;
    scroller.scrollTop = 90 * ROW_HEIGHT;
    fireEvent.scroll(scroller);
    rerender(<MessageList {...props({ items: page(150), hasMore: true, cursor: 2 })} />);
    expect(scroller.scrollTop).toBe(90 * ROW_HEIGHT);
    rerender(<MessageList {...props({ items: page(150), hasMore: true, cursor: 3 })} />);
    expect(scroller.scrollTop).toBeLessThanOrEqual(3 * ROW_HEIGHT);
  });

  it('shows skeleton rows while loading, a sentence when empty, and an error with Retry', () => {
    const { rerender } = render(<MessageList {...props({ loading: true, items: [] })} />);
    expect(screen.getByLabelText('Loading messages').getAttribute('aria-busy')).toBe('true');
    rerender(<MessageList {...props({ items: [] })} />);
    expect(screen.getByText('No messages in Inbox.')).toBeTruthy();
    const onRetry = vi.fn();
    rerender(<MessageList {...props({ items: [], error: 'Cannot reach the server.', onRetry })} />);
    expect(screen.getByRole('alert').textContent).toContain('Cannot reach the server.');
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(onRetry).toHaveBeenCalledOnce();
  });
});
