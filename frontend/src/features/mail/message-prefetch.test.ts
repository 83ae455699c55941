import { describe, expect, it, vi } from 'vitest';
import type { MessageDetailDto } from '@mailyard/core/contracts';
import { createMessagePrefetch } from './message-prefetch';

const detail = (id: number) => ({ id }) as unknown as MessageDetailDto;

describe('createMessagePrefetch', () => {
  it('hands the prefetched request to the first load of that message, once', async () => {
    const load = vi.fn(async (id: number) => detail(id));
    const messages = createMessagePrefetch(load);
    messages.prefetch(7);
    messages.prefetch(7); // already on its way
    expect(load).toHaveBeenCalledTimes(1);
    expect(await messages.load(7, false)).toEqual(detail(7));
    expect(load).toHaveBeenCalledTimes(1);
    await messages.load(7, false); // used up: a new request
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('does not answer a load with remote images from a prefetch', async () => {
    const load = vi.fn(async (id: number) => detail(id));
    const messages = createMessagePrefetch(load);
    messages.prefetch(3);
    await messages.load(3, true);
    expect(load.mock.calls).toEqual([
      [3, false],
      [3, true],
    ]);
  });

  it('keeps only the last few, and passes a failure on to the load that takes it', async () => {
    const load = vi.fn(async (id: number) => (id === 9 ? Promise.reject(new Error('gone')) : detail(id)));
    const messages = createMessagePrefetch(load);
    for (const id of [1, 2, 3, 4, 5]) messages.prefetch(id);
    await messages.load(1, false); // dropped: loaded again
    expect(load).toHaveBeenCalledTimes(6);
    messages.prefetch(9);
    await expect(messages.load(9, false)).rejects.toThrow('gone');
  });
});
