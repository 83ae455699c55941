import { ImapParseError } from '../parser.js';

/**
 * Sequence sets (`1:*`, `*`, `2,4:7`): ranges whose ends may be `*` (the largest number in use).
 * The same grammar serves message sequence numbers and UIDs; the session resolves it against its
 * seq↔uid map.
 */

/** null stands for `*`. */
export type SequenceRange = { from: number | null; to: number | null };
export type SequenceSet = SequenceRange[];

const MAX_RANGES = 10_000;

export function parseSequenceSet(text: string, tag: string | null): SequenceSet {
  const ranges = text.split(',');
  if (ranges.length > MAX_RANGES) throw new ImapParseError('sequence set too long', tag);
  return ranges.map((part) => {
    const m = /^(\d+|\*)(?::(\d+|\*))?$/.exec(part);
    if (!m) throw new ImapParseError(`invalid sequence set ${JSON.stringify(text.slice(0, 50))}`, tag);
    const value = (v: string) => {
      if (v === '*') return null;
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 1 || n > 0xffffffff) throw new ImapParseError(`invalid sequence set ${JSON.stringify(text.slice(0, 50))}`, tag);
      return n;
    };
    const from = value(m[1]!);
    return { from, to: m[2] === undefined ? from : value(m[2]) };
  });
}

/** Whether `n` is in the set, `*` being `star` (the largest number in use). */
export function inSequenceSet(set: SequenceSet, n: number, star: number): boolean {
  return set.some((r) => {
    const a = r.from ?? star;
    const b = r.to ?? star;
    return n >= Math.min(a, b) && n <= Math.max(a, b);
  });
}

/** Numbers as a compact set: `1:3,7`. */
export function formatSequenceSet(numbers: readonly number[]): string {
  return formatOrderedSet([...numbers].sort((a, b) => a - b));
}

/** Numbers in the order given (ESORT's ALL, RFC 5267), ascending runs written as ranges: [5, 1, 2, 3] → `5,1:3`. */
export function formatOrderedSet(sorted: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? String(sorted[i]) : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return out.join(',');
}
