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
    selected.catchUp({ gone: [2, 99], rows: [row(1, 13, ['\\Seen']), row(3, 12), row(4, 14)], modseq: 14 }, { takeNew: false });
    expect(selected.caughtUpModseq).toBe(14);
    const updates = await selected.takeUpdates(async (after) => (after === 3 ? [row(4, 14)] : []), true);
    expect({ expunged: updates.expunged, exists: updates.exists, flags: updates.flags.map((r) => [r.uid, r.flags]) }).toEqual({ expunged: [{ seq: 2, uid: 2 }], exists: 3, flags: [[1, ['\\Seen']]] });
  });

  it('compares the whole mailbox on the next report when too much changed to say (gone is null)', async () => {
    const selected = view();
    selected.catchUp({ gone: null, rows: [], modseq: 5000 }, { takeNew: true });
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

  it('takes the new rows of its answer into the view at once when told to (no second read when reporting)', async () => {
    const selected = view();
    selected.catchUp({ gone: [], rows: [row(5, 16), row(4, 15)], modseq: 16 }, { takeNew: true });
    const loads: number[] = [];
    const updates = await selected.takeUpdates(async (after) => (loads.push(after), []), true);
    expect(loads).toEqual([]);
    expect(updates.exists).toBe(5);
    expect(selected.rows().map((r) => r.uid)).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('SelectedMailbox: reading new messages', () => {
  /** A report reads UID 4 after the session's own APPEND; the feed announces `announced` during that read; then the next report. */
  async function announcedDuringRead(announced: number): Promise<{ loads: number[]; exists: number | null }> {
    const selected = view();
    selected.expectNew();
    const loads: number[] = [];
    await selected.takeUpdates(async (after) => {
      loads.push(after);
      selected.apply({ type: 'message.new', modseq: 10 + announced, mailboxId: 1, messageId: announced, uid: announced, threadId: 1 });
      return [row(4, 14)];
    }, true);
    const { exists } = await selected.takeUpdates(async (after) => (loads.push(after), after === 4 ? [row(5, 15)] : []), true);
    return { loads, exists };
  }

  it("reads once when the feed announces, during that read, a message the read brings (the session's own APPEND)", async () => {
    expect(await announcedDuringRead(4)).toEqual({ loads: [3], exists: null });
  });

  it('reads again when the feed announces, during a read, a message beyond what that read brought', async () => {
    expect(await announcedDuringRead(5)).toEqual({ loads: [3, 4], exists: 5 });
  });

  it('still reads at the next report when a read fails', async () => {
    const selected = view();
    selected.expectNew();
    await expect(selected.takeUpdates(async () => Promise.reject(new Error('db down')), true)).rejects.toThrow('db down');
    const loads: number[] = [];
    const updates = await selected.takeUpdates(async (after) => (loads.push(after), [row(4, 13)]), true);
    expect(loads).toEqual([3]);
    expect(updates.exists).toBe(4);
  });

  it("takes this session's APPEND as written when it follows the last UID, and reads when something came in before it", async () => {
    const selected = view();
    selected.addAppended([row(4, 13), row(5, 13)]);
    const loads: number[] = [];
    const load = async (after: number) => (loads.push(after), after === 5 ? [row(6, 14), row(7, 15)] : []);
    expect((await selected.takeUpdates(load, true)).exists).toBe(5);
    expect(loads).toEqual([]);
    // UID 6 came from elsewhere, not yet known here: this APPEND's 7 does not follow 5.
    selected.addAppended([row(7, 15)]);
    expect((await selected.takeUpdates(load, true)).exists).toBe(7);
    expect(loads).toEqual([5]);
    // No row (the store did not say): read.
    selected.addAppended([undefined]);
    await selected.takeUpdates(load, true);
    expect(loads).toEqual([5, 7]);
  });
});
