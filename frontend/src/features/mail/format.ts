/** How the mail screens write dates and people. */
import type { AddressDto } from '@mailyard/core/contracts';

const DAY = 86_400_000;

/**
 * Formatters made once, on first use: `toLocaleDateString(…, options)` builds a new
 * Intl.DateTimeFormat on every call, which made rendering the list's rows the main cost of a scroll.
 */
const formats = {
  time: { hour: '2-digit', minute: '2-digit' },
  weekday: { weekday: 'short' },
  dayMonth: { day: 'numeric', month: 'short' },
  dayMonthYear: { day: 'numeric', month: 'short', year: 'numeric' },
  full: { dateStyle: 'medium', timeStyle: 'short' },
} satisfies Record<string, Intl.DateTimeFormatOptions>;
const formatters = new Map<keyof typeof formats, Intl.DateTimeFormat>();
function format(name: keyof typeof formats, date: Date): string {
  let f = formatters.get(name);
  if (!f) formatters.set(name, (f = new Intl.DateTimeFormat(undefined, formats[name])));
  return f.format(date);
}

/** "14:05" today, "Mon" this week, "3 Mar" this year, "3 Mar 2024" before. */
export function listDate(iso: string, now: Date = new Date()): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  if (date.getTime() >= startOfToday) return format('time', date);
  if (date.getTime() >= startOfToday - 6 * DAY) return format('weekday', date);
  if (date.getFullYear() === now.getFullYear()) return format('dayMonth', date);
  return format('dayMonthYear', date);
}

export function fullDate(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : format('full', date);
}

/** The display name, else the address. */
export function personName(people: AddressDto[]): string {
  const first = people[0];
  if (!first) return '(no sender)';
  return first.name || first.address;
}

/** Names with addresses; an entry with no address (a group without members, `undisclosed-recipients:;`) by its name. */
export function people(list: AddressDto[]): string {
  return list.map((p) => (p.name && p.address ? `${p.name} <${p.address}>` : p.name || p.address)).join(', ');
}

export function byteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
