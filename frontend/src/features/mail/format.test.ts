import { afterEach, describe, expect, it, vi } from 'vitest';
import { fullDate, listDate, people } from './format';

afterEach(() => vi.restoreAllMocks());

describe('listDate', () => {
  const now = new Date(2026, 2, 12, 15, 0); // Thursday 12 March 2026, 15:00 local time

  it('writes the time today, the weekday this week, day and month this year, and the year before', () => {
    const today = new Date(2026, 2, 12, 9, 5);
    const monday = new Date(2026, 2, 9, 9, 5);
    const january = new Date(2026, 0, 3, 9, 5);
    const lastYear = new Date(2024, 2, 3, 9, 5);
    expect(listDate(today.toISOString(), now)).toBe(today.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' }));
    expect(listDate(monday.toISOString(), now)).toBe(monday.toLocaleDateString(undefined, { weekday: 'short' }));
    expect(listDate(january.toISOString(), now)).toBe(january.toLocaleDateString(undefined, { day: 'numeric', month: 'short' }));
    expect(listDate(lastYear.toISOString(), now)).toBe(lastYear.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' }));
    expect(listDate('not a date', now)).toBe('');
  });

  it('reuses its formatters: no toLocale* call per row (each builds a new formatter, a long task when scrolling)', () => {
    const time = vi.spyOn(Date.prototype, 'toLocaleTimeString');
    const date = vi.spyOn(Date.prototype, 'toLocaleDateString');
    const full = vi.spyOn(Date.prototype, 'toLocaleString');
    for (const iso of ['2026-03-12T09:05:00', '2026-03-09T09:05:00', '2026-01-03T09:05:00', '2024-03-03T09:05:00']) listDate(iso, now);
    fullDate('2024-03-03T09:05:00');
    expect(time).not.toHaveBeenCalled();
    expect(date).not.toHaveBeenCalled();
    expect(full).not.toHaveBeenCalled();
  });
});

describe('fullDate', () => {
  it('writes date and time, and nothing for a bad date', () => {
    const d = new Date(2024, 2, 3, 9, 5);
    expect(fullDate(d.toISOString())).toBe(d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }));
    expect(fullDate('nope')).toBe('');
  });
});

describe('people', () => {
  it('shows a name with its address, an address alone, and a group without members by its name only', () => {
    expect(people([{ name: 'Ann', address: 'ann@m.test' }, { name: '', address: 'dan@m.test' }, { name: 'undisclosed-recipients', address: '' }])).toBe('Ann <ann@m.test>, dan@m.test, undisclosed-recipients');
  });
});
