// @vitest-environment happy-dom
import { createRef } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { loadRecent, RECENT_MAX, rememberSearch } from './recent-searches';
import { SearchBox } from './search-box';

beforeEach(() => localStorage.clear());
afterEach(cleanup);

function renderBox(userId = 1, active: string | null = null) {
  const onSearch = vi.fn();
  const onClear = vi.fn();
  const inputRef = createRef<HTMLInputElement>();
  const view = render(<SearchBox userId={userId} active={active} inputRef={inputRef} onSearch={onSearch} onClear={onClear} />);
  return { onSearch, onClear, inputRef, view, input: screen.getByRole('searchbox', { name: 'Search mail' }) };
}

describe('SearchBox', () => {
  it('runs the query as typed, operators included, and remembers it for this user only', () => {
    const { onSearch, input } = renderBox(1);
    fireEvent.change(input, { target: { value: '  from:erin "new place" is:unread ' } });
    fireEvent.submit(input.closest('form')!);
    expect(onSearch).toHaveBeenCalledWith('from:erin "new place" is:unread');
    expect(loadRecent(1)).toEqual(['from:erin "new place" is:unread']);
    expect(loadRecent(2)).toEqual([]);
  });

  it('does not run an empty query', () => {
    const { onSearch, input } = renderBox();
    fireEvent.change(input, { target: { value: '   ' } });
    fireEvent.submit(input.closest('form')!);
    expect(onSearch).not.toHaveBeenCalled();
  });

  it('offers recent searches, newest first, while focused and empty, and runs one when chosen', () => {
    rememberSearch(1, 'subject:plan');
    rememberSearch(1, 'has:attachment');
    rememberSearch(1, 'subject:plan');
    const { onSearch, input } = renderBox(1);
    fireEvent.focus(input);
    const recent = screen.getByRole('list', { name: 'Recent searches' });
    expect(within(recent).getAllByRole('button').map((b) => b.textContent)).toEqual(['subject:plan', 'has:attachment']);
    expect(screen.getByText('has:attachment', { selector: 'code' })).toBeTruthy();
    fireEvent.click(within(recent).getByRole('button', { name: 'has:attachment' }));
    expect(onSearch).toHaveBeenCalledWith('has:attachment');
    expect(loadRecent(1)).toEqual(['has:attachment', 'subject:plan']);
  });

  it('keeps at most a few recent searches and can forget them', () => {
    for (let i = 0; i < RECENT_MAX + 3; i += 1) rememberSearch(1, `q${i}`);
    expect(loadRecent(1)).toHaveLength(RECENT_MAX);
    expect(loadRecent(1)[0]).toBe(`q${RECENT_MAX + 2}`);
    const { input } = renderBox(1);
    fireEvent.focus(input);
    fireEvent.click(screen.getByRole('button', { name: 'Clear recent searches' }));
    expect(loadRecent(1)).toEqual([]);
    expect(screen.queryByRole('list', { name: 'Recent searches' })).toBeNull();
  });

  it('mentions the / key in the placeholder only where there is a keyboard, not on a phone-sized screen', () => {
    const happy = (window as unknown as { happyDOM: { setViewport(v: { width: number; height: number }): void } }).happyDOM;
    try {
      happy.setViewport({ width: 1280, height: 800 });
      expect(renderBox().input.getAttribute('placeholder')).toBe('Search mail  ( / )');
      cleanup();
      happy.setViewport({ width: 390, height: 844 });
      expect(renderBox().input.getAttribute('placeholder')).toBe('Search mail');
    } finally {
      happy.setViewport({ width: 1024, height: 768 });
    }
  });

  it('clears the search shown, back to the folder', () => {
    const { onClear } = renderBox(1, 'from:erin');
    fireEvent.click(screen.getByRole('button', { name: 'Clear the search' }));
    expect(onClear).toHaveBeenCalledOnce();
  });
});
