import type { ImapMessageRow } from '@mailyard/core';
import { describe, expect, it } from 'vitest';
import { SelectedMailbox } from './selected-mailbox.js';

const row = (uid: number, modseq: number, flags: string[] = []): ImapMessageRow => ({ id: uid, uid, modseq, flags, internalDate: new Date('2026-11-23T09:00:00Z'), internalDateZone: 0, size: 10, sentDate: null });

function view(): SelectedMailbox {
  const selected = new SelectedMailbox(1, 'INBOX', false, 100, [row(1, 10), row(2, 11), row(3, 12)], 12);
  selected.reportedExists = selected.exists;
  return selected;
}

describe('SelectedMailbox.catchUp (NOOP and CHECK reading the store)', () => {
  it('records what the store says changed, moves its modseq on, and ignores what it already has', async () => {
    const selected = view();
    selected.catchUp({ gone: [2, 99], rows: [row(1, 13, ['\\Seen']), row(3, 12), row(4, 14)], modseq: 14 });
    expect(selected.caughtUpModseq).toBe(14);
    const updates = await selected.takeUpdates(async (after) => (after === 3 ? [row(4, 14)] : []), true);
    expect({ expunged: updates.expunged, exists: updates.exists, flags: updates.flags.map((r) => [r.uid, r.flags]) }).toEqual({ expunged: [{ seq: 2, uid: 2 }], exists: 3, flags: [[1, ['\\Seen']]] });
  });

  it('compares the whole mailbox on the next report when too much changed to say (gone is null)', async () => {
    const selected = view();
    selected.catchUp({ gone: null, rows: [], modseq: 5000 });
    const loads: number[] = [];
    const updates = await selected.takeUpdates(async (after) => {
      loads.push(after);
      return [row(1, 10), row(3, 20, ['\\Flagged'])];
    }, true);
    expect(loads).toEqual([0]);
    expect(updates.expunged).toEqual([{ seq: 2, uid: 2 }]);
    expect(updates.flags.map((r) => [r.uid, r.flags])).toEqual([[3, ['\\Flagged']]]);
    expect(selected.caughtUpModseq).toBe(5000);
  });
});
