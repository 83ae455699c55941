/**
 * Opening a message starts its GET at once, in the click's (or key's) handler, instead of after
 * React has rendered the reader and run its effect (30–60 ms later on a slow machine): the
 * reader's first load takes the request already on its way. A prefetch is used once, only by a
 * load without remote images, and only the last few are kept.
 */
import type { MessageDetailDto } from '@mailyard/core/contracts';

type LoadMessage = (id: number, remoteImages: boolean) => Promise<MessageDetailDto>;

const KEPT = 4;

export function createMessagePrefetch(load: LoadMessage) {
  const pending = new Map<number, Promise<MessageDetailDto>>();
  return {
    /** Starts loading message `id` (its failure is reported to whoever takes it). */
    prefetch(id: number): void {
      if (pending.has(id)) return;
      const request = load(id, false);
      request.catch(() => undefined); // taken by the reader, or dropped unread
      pending.set(id, request);
      while (pending.size > KEPT) pending.delete(pending.keys().next().value!);
    },
    /** A loader like `load` that answers with a prefetched request when there is one. */
    load: ((id, remoteImages) => {
      const request = remoteImages ? undefined : pending.get(id);
      if (!request) return load(id, remoteImages);
      pending.delete(id);
      return request;
    }) as LoadMessage,
  };
}
