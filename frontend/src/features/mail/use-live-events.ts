/**
 * The live feed: an EventSource on /api/events. The browser reconnects by itself and sends
 * `Last-Event-ID`, so the server replays what was missed. When the server refuses the stream
 * (EventSource gives up: the session ended, or the backend restarted) it checks the session
 * (a 401 leads to sign-in) and opens a new stream from the last modseq it saw.
 */
import { useEffect, useRef, useState } from 'react';
import type { UserEvent, UserEventType } from '@mailyard/core/contracts';
import { api } from '../../api/client';

const types: UserEventType[] = ['message.new', 'message.flags', 'message.moved', 'message.deleted', 'mailbox.created', 'mailbox.renamed', 'mailbox.deleted', 'mailbox.counts', 'delivery.status'];
const REOPEN_MS = 5_000;

export type LiveStatus = 'connecting' | 'live' | 'reconnecting';

/** `onEvent` gets each event; `onResync` when too much was missed and everything must be reloaded. */
export function useLiveEvents(enabled: boolean, onEvent: (event: UserEvent) => void, onResync: () => void): LiveStatus {
  const [status, setStatus] = useState<LiveStatus>('connecting');
  const handlers = useRef({ onEvent, onResync });
  handlers.current = { onEvent, onResync };

  useEffect(() => {
    if (!enabled) return;
    let source: EventSource | null = null;
    let lastId: string | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;

    const open = () => {
      source = new EventSource(lastId ? `/api/events?since=${encodeURIComponent(lastId)}` : '/api/events');
      source.onopen = () => setStatus('live');
      source.onerror = () => {
        setStatus('reconnecting');
        if (source?.readyState !== EventSource.CLOSED) return;
        timer = setTimeout(() => {
          api.me().then(
            () => !stopped && open(),
            () => undefined,
          );
        }, REOPEN_MS);
      };
      for (const type of types) {
        source.addEventListener(type, (message) => {
          const event = message as MessageEvent<string>;
          if (event.lastEventId) lastId = event.lastEventId;
          try {
            handlers.current.onEvent(JSON.parse(event.data) as UserEvent);
          } catch {
            // a frame that is not JSON is not ours to act on
          }
        });
      }
      source.addEventListener('resync', (message) => {
        lastId = (message as MessageEvent<string>).lastEventId || lastId;
        handlers.current.onResync();
      });
    };
    open();
    return () => {
      stopped = true;
      clearTimeout(timer);
      source?.close();
    };
  }, [enabled]);

  return status;
}
