// @vitest-environment happy-dom
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import type { MailboxDto } from '@mailyard/core/contracts';
import { ActionMenu, actionsFor, BulkBar, ConfirmDialog, moveTargets } from './mail-actions';
import { MessageList, type MessageListProps } from './message-list';
import { noSelection, pruneSelection, selectRange, toggleSelected } from './selection';
import { listItem } from './test-fixtures';

beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, 'clientHeight', { configurable: true, get: () => 640 });
  Object.defineProperty(HTMLElement.prototype, 'clientWidth', { configurable: true, get: () => 400 });
});
afterEach(cleanup);

const items = [1, 2, 3, 4, 5].map((id) => listItem(id, { unread: id === 2, starred: id === 3 }));
const folder = (id: number, name: string, specialUse: string | null): MailboxDto => ({ id, name, specialUse, total: 3, unread: 0 });
const inbox = folder(1, 'INBOX', '\\Inbox');
const trash = folder(6, 'Trash', '\\Trash');
const mailboxes = [inbox, folder(2, 'Sent', '\\Sent'), folder(3, 'Archive', '\\Archive'), trash, folder(7, 'Projects', null)];

function listProps(patch: Partial<MessageListProps> = {}): MessageListProps {
  return { items, folderName: 'Inbox', loading: false, loadingMore: false, hasMore: false, error: null, cursor: 0, openId: null, onOpen: vi.fn(), onLoadMore: vi.fn(), onRetry: vi.fn(), ...patch };
}

describe('selecting messages', () => {
  it('toggles with the checkbox, selects a range with shift, toggles with Ctrl-click, and still opens on a plain click', () => {
    const onSelect = vi.fn();
    const onOpen = vi.fn();
    render(<MessageList {...listProps({ onSelect, onOpen, selected: new Set([2]) })} />);
    const rows = screen.getAllByRole('option');
    expect(rows[1]!.classList.contains('selected')).toBe(true);
    expect(screen.getByTitle('Select: Subject 2').getAttribute('data-checked')).toBe('true');
    // Assistive technology hears the selection on the option itself (the box is for the pointer).
    expect(screen.getByRole('listbox').getAttribute('aria-multiselectable')).toBe('true');
    expect(rows.map((r) => r.getAttribute('aria-selected'))).toEqual(rows.map((_, i) => String(i === 1)));

    fireEvent.click(screen.getByTitle('Select: Subject 1'));
    expect(onSelect).toHaveBeenLastCalledWith(expect.objectContaining({ id: 1 }), 'toggle');
    fireEvent.click(screen.getByTitle('Select: Subject 4'), { shiftKey: true });
    expect(onSelect).toHaveBeenLastCalledWith(expect.objectContaining({ id: 4 }), 'range');
    fireEvent.click(screen.getByText('Subject 5'), { ctrlKey: true });
    expect(onSelect).toHaveBeenLastCalledWith(expect.objectContaining({ id: 5 }), 'toggle');
    expect(onOpen).not.toHaveBeenCalled();
    fireEvent.click(screen.getByText('Subject 3'));
    expect(onOpen).toHaveBeenCalledWith(expect.objectContaining({ id: 3 }), 2);
  });

  it('selects the range between the last toggled message and the shift-clicked one, either way', () => {
    let s = toggleSelected(noSelection, 4);
    s = selectRange(s, items, 2);
    expect([...s.ids].sort()).toEqual([2, 3, 4]);
    s = toggleSelected(s, 3);
    expect([...s.ids].sort()).toEqual([2, 4]);
    expect([...selectRange(s, items, 5).ids].sort()).toEqual([2, 3, 4, 5]);
    expect([...pruneSelection(s, items.slice(2)).ids]).toEqual([4]);
  });

  it('puts the selected messages on a drag from a selected row, and only the row otherwise', () => {
    render(<MessageList {...listProps({ onSelect: vi.fn(), selected: new Set([1, 3]) })} />);
    const data = new Map<string, string>();
    const dataTransfer = { setData: (type: string, value: string) => data.set(type, value), effectAllowed: '' };
    fireEvent.dragStart(screen.getAllByRole('option')[2]!, { dataTransfer });
    expect(JSON.parse(data.get('application/x-mailyard-messages')!)).toEqual([1, 3]);
    fireEvent.dragStart(screen.getAllByRole('option')[1]!, { dataTransfer });
    expect(JSON.parse(data.get('application/x-mailyard-messages')!)).toEqual([2]);
  });
});

describe('bulk actions', () => {
  it('offers what fits the folder: delete to Trash in the Inbox, restore and delete forever in Trash', () => {
    const labels = (f: MailboxDto) => actionsFor(f, items.slice(0, 3)).map((a) => a.label);
    expect(labels(inbox)).toEqual(['Mark read', 'Mark unread', 'Star', 'Remove star', 'Archive', 'Delete']);
    expect(labels(trash)).toEqual(['Mark read', 'Mark unread', 'Star', 'Remove star', 'Archive', 'Restore to Inbox', 'Delete forever']);
    expect(actionsFor(inbox, [items[0]!]).map((a) => a.label)).toEqual(['Mark unread', 'Star', 'Archive', 'Delete']);
    expect(moveTargets(mailboxes, inbox).map((m) => m.name)).toEqual(['Archive', 'Trash', 'Projects']);
  });

  it('offers "Not spam" in Junk, and only there', () => {
    const junk = folder(8, 'Junk', '\\Junk');
    expect(actionsFor(junk, [items[0]!])).toContainEqual({ label: 'Not spam', action: { kind: 'notSpam', allowSender: false } });
    expect(actionsFor(inbox, [items[0]!]).map((a) => a.label)).not.toContain('Not spam');
    expect(actionsFor(trash, [items[0]!]).map((a) => a.label)).not.toContain('Not spam');
  });

  it('runs the bar buttons and moves through the folder picker', () => {
    const onAction = vi.fn();
    const onClear = vi.fn();
    render(<BulkBar count={2} actions={actionsFor(inbox, items.slice(0, 2))} targets={moveTargets(mailboxes, inbox)} onAction={onAction} onClear={onClear} />);
    const bar = screen.getByRole('toolbar', { name: 'Selected messages' });
    expect(within(bar).getByText('2 selected')).toBeTruthy();
    fireEvent.click(within(bar).getByRole('button', { name: 'Mark read' }));
    expect(onAction).toHaveBeenLastCalledWith({ kind: 'flags', read: true });
    fireEvent.click(within(bar).getByRole('button', { name: 'Delete' }));
    expect(onAction).toHaveBeenLastCalledWith({ kind: 'trash' });
    fireEvent.change(within(bar).getByLabelText('Move to folder'), { target: { value: '7' } });
    expect(onAction).toHaveBeenLastCalledWith({ kind: 'move', mailboxId: 7 });
    fireEvent.click(within(bar).getByRole('button', { name: 'Clear the selection' }));
    expect(onClear).toHaveBeenCalledOnce();
  });

  it('has the same actions in the right-click menu, reachable with the arrow keys, and closes on Escape', () => {
    const onAction = vi.fn();
    const onClose = vi.fn();
    render(<ActionMenu x={10} y={20} actions={actionsFor(trash, [items[0]!])} targets={moveTargets(mailboxes, trash)} onAction={onAction} onClose={onClose} />);
    const menu = screen.getByRole('menu', { name: 'Message actions' });
    const entries = within(menu).getAllByRole('menuitem');
    expect(entries.map((e) => e.textContent)).toEqual(['Mark unreadShift+U', 'Stars', 'Archivee', 'Restore to Inbox', 'Delete forever#', 'Move to Inbox', 'Move to Archive', 'Move to Projects']);
    expect(document.activeElement).toBe(entries[0]);
    fireEvent.keyDown(menu, { key: 'ArrowDown' });
    expect(document.activeElement).toBe(entries[1]);
    fireEvent.keyDown(menu, { key: 'ArrowUp' });
    fireEvent.keyDown(menu, { key: 'ArrowUp' });
    expect(document.activeElement).toBe(entries[entries.length - 1]);
    fireEvent.click(entries[entries.length - 1]!);
    expect(onAction).toHaveBeenCalledWith({ kind: 'move', mailboxId: 7 });
    expect(onClose).toHaveBeenCalled();
    fireEvent.keyDown(menu, { key: 'Escape' });
    expect(onClose).toHaveBeenCalledTimes(2);
  });

  it('asks before deleting forever, with Cancel focused and Escape cancelling', () => {
    const onConfirm = vi.fn();
    const onCancel = vi.fn();
    render(<ConfirmDialog title="Delete forever?" body="2 messages will be deleted forever." confirmLabel="Delete forever" onConfirm={onConfirm} onCancel={onCancel} />);
    const dialog = screen.getByRole('alertdialog', { name: 'Delete forever?' });
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Cancel' }));
    fireEvent.keyDown(dialog, { key: 'Escape' });
    expect(onCancel).toHaveBeenCalledOnce();
    expect(onConfirm).not.toHaveBeenCalled();
    fireEvent.click(within(dialog).getByRole('button', { name: 'Delete forever' }));
    expect(onConfirm).toHaveBeenCalledOnce();
  });
});
