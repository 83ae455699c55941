import { describe, expect, it } from 'vitest';
import { emptyList, mergeNewer, type ListState } from './list-state';
import { listItem } from './test-fixtures';

const listed = (ids: number[]): ListState => ({ ...emptyList, mailboxId: 1, loading: false, items: ids.map((id) => listItem(id)) });

describe('mergeNewer (a fresh first page after a live event)', () => {
  it('puts a message that was filed late where its date puts it, not on top', () => {
    // 2 arrived after 1 but was filed first: the list shows 2; then 1's event brings the page [2, 1, 0].
    const merged = mergeNewer(listed([2, 0]), [listItem(2), listItem(1), listItem(0)]);
    expect(merged.items.map((m) => m.id)).toEqual([2, 1, 0]);
  });

  it('keeps the rows below the fresh page (loaded by scrolling) and refreshes the ones in it', () => {
    const merged = mergeNewer(listed([5, 4, 3, 2, 1]), [listItem(6), listItem(5, { unread: false }), listItem(4)]);
    expect(merged.items.map((m) => m.id)).toEqual([6, 5, 4, 3, 2, 1]);
    expect(merged.items[1]!.unread).toBe(false);
  });
});
