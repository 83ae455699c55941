import { WeightedLru } from '../util/weighted-lru.js';

/**
 * What IMAP SEARCH FROM / TO / CC / SUBJECT / BODY / TEXT found, remembered per user, mailbox,
 * field and text, up to a UID: a client repeating a search (a quick filter as the user types on,
 * a phone refreshing a saved search) costs a scan of the messages that arrived since, not of the
 * whole mailbox. Correct because what a UID names never changes: a message's addresses, subject
 * and body are fixed when it is filed, a moved or copied message gets a new UID in its new
 * mailbox, UIDs only grow, and mailbox ids are never reused. A UID that left (expunged, moved
 * away) may stay in a list; the caller matches against its own view of the mailbox.
 *
 * Bounded by the UIDs held in all lists together, plus `listWeight` per list for the list itself
 * (key, objects: a few hundred bytes), least recently used out first.
 */

export interface TextSearchCacheOptions {
  /** UIDs kept across every list (8 bytes each), plus `listWeight` per list; a single answer above this is not kept. */
  maxUids: number;
  /** What one list counts for besides its UIDs (default 32: ~256 bytes). */
  listWeight?: number;
}

interface Entry {
  /** Every matching UID up to and including `upTo`, ascending. */
  uids: number[];
  upTo: number;
}

/** `load(after, upTo)`: the matching UIDs above `after` and up to `upTo`, ascending. */
export type TextSearchLoad = (after: number, upTo: number) => Promise<number[]>;

export class TextSearchCache {
  private readonly entries: WeightedLru<string, Entry>;

  constructor(options: TextSearchCacheOptions) {
    const listWeight = options.listWeight ?? 32;
    this.entries = new WeightedLru(options.maxUids, (entry) => entry.uids.length + listWeight);
  }

  /** How many UIDs the lists hold, plus `listWeight` per list (for tests). */
  get size(): number {
    return this.entries.weight;
  }

  /** The matching UIDs up to `upTo`, ascending, loading only what the list for `key` does not cover yet. */
  async search(key: string, upTo: number, load: TextSearchLoad): Promise<number[]> {
    const entry = this.entries.get(key);
    if (entry && upTo <= entry.upTo) return entry.uids.slice(0, countAtMost(entry.uids, upTo));
    const uids = [...(entry?.uids ?? []), ...(await load(entry?.upTo ?? 0, upTo))];
    // Another search of the same key may have gone further meanwhile: keep the longer list.
    if ((this.entries.get(key)?.upTo ?? 0) < upTo) this.entries.set(key, { uids, upTo });
    return uids;
  }
}

/** How many of the ascending `uids` are at most `upTo` (binary search). */
function countAtMost(uids: readonly number[], upTo: number): number {
  let lo = 0;
  let hi = uids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (uids[mid]! <= upTo) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
