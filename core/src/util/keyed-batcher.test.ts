import { describe, expect, it } from 'vitest';
import { KeyedBatcher } from './keyed-batcher.js';

interface Item {
  userId: number;
  spoolId: number;
}
const input = (userId: number, n: number): Item => ({ userId, spoolId: n });
const result = (n: number) => ({ messageId: n });

describe('KeyedBatcher', () => {
  it('files what arrives for a user during a transaction in the next one, in order', async () => {
    const calls: number[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const batcher = new KeyedBatcher<number, Item, { messageId: number }>(async (_userId, inputs) => {
      calls.push(inputs.map((i) => i.spoolId));
      if (calls.length === 1) await gate;
      return inputs.map((i) => result(i.spoolId));
    });
    const first = batcher.add(7, input(7, 1));
    const rest = [2, 3, 4].map((n) => batcher.add(7, input(7, n)));
    release();
    expect((await first).messageId).toBe(1);
    expect((await Promise.all(rest)).map((r) => r.messageId)).toEqual([2, 3, 4]);
    expect(calls).toEqual([[1], [2, 3, 4]]);
  });

  it('keeps users apart and caps the batch size', async () => {
    const calls: Array<[number, number[]]> = [];
    const batcher = new KeyedBatcher<number, Item, { messageId: number }>(async (userId, inputs) => {
      calls.push([userId, inputs.map((i) => i.spoolId)]);
      return inputs.map((i) => result(i.spoolId));
    }, 2);
    await Promise.all([batcher.add(1, input(1, 1)), batcher.add(1, input(1, 2)), batcher.add(1, input(1, 3)), batcher.add(2, input(2, 9)), batcher.add(1, input(1, 4))]);
    expect(calls.filter(([u]) => u === 2)).toEqual([[2, [9]]]);
    expect(calls.filter(([u]) => u === 1).map(([, ids]) => ids.length).every((n) => n <= 2)).toBe(true);
    expect(calls.filter(([u]) => u === 1).flatMap(([, ids]) => ids)).toEqual([1, 2, 3, 4]);
  });

  it('files a failed batch one by one, so only the bad message fails', async () => {
    let gateOpen: () => void = () => undefined;
    const gate = new Promise<void>((r) => (gateOpen = r));
    let calls = 0;
    const batcher = new KeyedBatcher<number, Item, { messageId: number }>(async (_userId, inputs) => {
      calls++;
      if (calls === 1) await gate;
      if (inputs.some((i) => i.spoolId === 13)) throw new Error('bad message');
      return inputs.map((i) => result(i.spoolId));
    });
    const head = batcher.add(1, input(1, 1));
    const good = batcher.add(1, input(1, 2));
    const bad = batcher.add(1, input(1, 13));
    gateOpen();
    await head;
    expect((await good).messageId).toBe(2);
    await expect(bad).rejects.toThrow('bad message');
  });

  it('with a linger, waits that long for company, so items added meanwhile share the first batch', async () => {
    const calls: number[][] = [];
    const batcher = new KeyedBatcher<'k', number, number>(async (_k, items) => (calls.push(items), items.map((i) => i * 10)), 50, 20);
    const first = batcher.add('k', 1);
    await new Promise((resolve) => setImmediate(resolve));
    const second = batcher.add('k', 2);
    expect(await Promise.all([first, second])).toEqual([10, 20]);
    expect(calls).toEqual([[1, 2]]);
  });
});
