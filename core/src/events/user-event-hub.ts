import type { Redis } from 'ioredis';
import { userChannel, userEvent, type UserEvent } from '../contracts/events.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log/logger.js';

/**
 * The live half of the change feed: one Redis subscriber connection per process, shared by every
 * open feed (SSE streams, IMAP IDLE sessions). It SUBSCRIBEs to `user:<id>` when that user's first
 * listener arrives and UNSUBSCRIBEs when the last one leaves (reference-counted by listener).
 * Payloads are validated with the `userEvent` schema; anything else on the channel is dropped.
 * Pub/sub is a hint: change-feed.ts replays from the change log what it cannot carry.
 */

export interface UserEventListener {
  event(event: UserEvent): void;
  /**
   * The subscriber connection dropped: events published meanwhile are gone from pub/sub. The
   * listener should end so its client catches up from the change log (SSE `Last-Event-ID`).
   */
  lost(): void;
}

export interface UserEventHub {
  /** Resolves once Redis confirmed the subscription; the function it returns removes the listener. */
  subscribe(userId: number, listener: UserEventListener): Promise<() => void>;
  /** Users with at least one listener (for tests and metrics). */
  subscribedUsers(): number[];
  close(): void;
}

interface Channel {
  userId: number;
  listeners: Set<UserEventListener>;
  /** The SUBSCRIBE command's reply. */
  ready: Promise<unknown>;
}

export function createUserEventHub(deps: { createSubscriber(): Redis; log: Logger }): UserEventHub {
  const channels = new Map<string, Channel>();
  let subscriber: Redis | null = null;
  let closed = false;

  function onMessage(channelName: string, text: string): void {
    const channel = channels.get(channelName);
    if (!channel) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      deps.log.warn({ event: 'events.invalid', channel: channelName, reason: 'not JSON' });
      return;
    }
    const result = userEvent.safeParse(parsed);
    if (!result.success) {
      deps.log.warn({ event: 'events.invalid', channel: channelName, reason: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
      return;
    }
    for (const listener of [...channel.listeners]) listener.event(result.data);
  }

  function connection(): Redis {
    if (subscriber) return subscriber;
    const sub = deps.createSubscriber();
    sub.on('message', onMessage);
    // ioredis reconnects (and re-subscribes) by itself; without a listener an error would crash the process.
    sub.on('error', (err: Error) => deps.log.warn({ event: 'events.subscriber_error', err: err.message }));
    sub.on('close', () => {
      if (closed) return;
      for (const channel of channels.values()) for (const listener of [...channel.listeners]) listener.lost();
    });
    subscriber = sub;
    return sub;
  }

  function release(name: string, channel: Channel, listener: UserEventListener): void {
    channel.listeners.delete(listener);
    if (channel.listeners.size > 0 || channels.get(name) !== channel) return;
    channels.delete(name);
    if (closed || !subscriber) return;
    // Commands on one connection run in order: a later SUBSCRIBE for this user comes after this.
    subscriber.unsubscribe(name).catch((err: Error) => deps.log.warn({ event: 'events.unsubscribe_failed', channel: name, err: err.message }));
  }

  return {
    async subscribe(userId, listener) {
      if (closed) throw new AppError('events.hub_closed', 'the event hub is closed', 503);
      const name = userChannel(userId);
      let channel = channels.get(name);
      if (!channel) {
        const created: Channel = { userId, listeners: new Set(), ready: connection().subscribe(name) };
        // A failed SUBSCRIBE must not stay cached for the next stream of this user.
        created.ready.catch(() => {
          if (channels.get(name) === created) channels.delete(name);
        });
        channels.set(name, created);
        channel = created;
      }
      const mine = channel;
      mine.listeners.add(listener);
      try {
        await mine.ready;
      } catch (err) {
        mine.listeners.delete(listener);
        throw err;
      }
      let released = false;
      return () => {
        if (released) return;
        released = true;
        release(name, mine, listener);
      };
    },

    subscribedUsers() {
      return [...channels.values()].map((c) => c.userId);
    },

    close() {
      if (closed) return;
      closed = true;
      channels.clear();
      subscriber?.disconnect();
      subscriber = null;
    },
  };
}
