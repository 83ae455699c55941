// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { commandFor, keyOf, shortcuts, ShortcutsOverlay } from './shortcuts';

afterEach(cleanup);

const press = (key: string, mods: Partial<KeyboardEvent> = {}) => keyOf({ key, shiftKey: false, ctrlKey: false, metaKey: false, altKey: false, ...mods });

describe('keyboard shortcuts', () => {
  it('names key presses as the table does, and ignores chords with Ctrl, Meta or Alt', () => {
    expect(press('I', { shiftKey: true })).toBe('Shift+I');
    expect(press('#', { shiftKey: true })).toBe('#');
    expect(press('j')).toBe('j');
    expect(press('j', { ctrlKey: true })).toBeNull();
    expect(press('Shift', { shiftKey: true })).toBeNull();
  });

  it('maps keys to commands, with "g i" as a sequence, and leaves compose keys to compose', () => {
    expect(commandFor('e', null)).toBe('archive');
    expect(commandFor('#', null)).toBe('delete');
    expect(commandFor('Shift+U', null)).toBe('markUnread');
    expect(commandFor('Enter', null)).toBe('open');
    expect(commandFor('g', null)).toBe('pending');
    expect(commandFor('i', 'g')).toBe('goInbox');
    expect(commandFor('i', null)).toBeNull();
    for (const key of ['c', 'r', 'a', 'f']) expect(commandFor(key, null)).toBeNull();
  });

  it('lists every shortcut, compose ones included, in a dialog that Escape closes', () => {
    const onClose = vi.fn();
    render(<ShortcutsOverlay onClose={onClose} />);
    const dialog = screen.getByRole('dialog', { name: 'Keyboard shortcuts' });
    const text = dialog.textContent!;
    for (const s of shortcuts) expect(text).toContain(s.description);
    for (const key of ['/', 'j', 'k', 'o', 'Enter', 'e', '#', 's', 'u', 'Shift+I', 'Shift+U', 'g i', 'c', 'r', 'a', 'f', '?']) {
      expect(within(dialog).getAllByText(key, { selector: 'kbd' }).length).toBeGreaterThan(0);
    }
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Close' }));
    fireEvent.keyDown(dialog, { key: 'Escape' });
    expect(onClose).toHaveBeenCalledOnce();
  });
});
