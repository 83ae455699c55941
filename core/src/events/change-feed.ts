import type { UserEvent } from '../contracts/events.js';
import type { Logger } from '../log/logger.js';
import type { ChangeRepository } from '../repositories/change.repository.js';
import { changeRowsToEvents, EVENT_CHANGE_KINDS, type ChangeLogEvent } from './change-log.js';
import type { UserEventHub } from './user-event-hub.js';

/**
 * A user's change feed, for any transport: the SSE route adapts it to `text/event-stream`, an IMAP
 * IDLE session filters it by mailbox. Opened from a modseq, it yields every change after it exactly
 * once and in modseq order: first replayed from the change log, then live from the event hub.
 *
 * Nothing falls between the replay and live: the feed subscribes BEFORE it reads the log and holds
 * live events back until the replay is read; then it queues only those the replay did not cover
 * (by modseq), once each, in order. When more than `maxReplay` changes are missing, or the modseq
 * is ahead of the user's (a client of another database), the replay is one `resync` item at the
 * user's current modseq instead: reload everything, the feed continues live from there.
 *
 * The feed never pushes: a consumer takes items when its client can take them (`next()`, or
 * `wait()` then `take()` until null); that is the back-pressure. Live events wait in the feed
 * meanwhile, at most `maxQueued` of them. The feed ends (`end`, `ended`) when:
 * - 'closed': the consumer called close();
 * - 'lost': the hub's subscriber connection dropped, so pub/sub lost events: the client must open
 *   a new feed from the last modseq it has, which replays them from the log;
 * - 'overflow': more than `maxQueued` live events waited (the client cannot keep up);
 * - 'failed': the replay could not be read.
 * Once ended, nothing more is taken; the subscription is released.
 */

export type FeedItem =
  /** `replayed`: read from the change log (true) or received live (false). */
  | { type: 'event'; event: UserEvent; replayed: boolean }
  /** Too much missed (or the client is ahead): reload everything as of `modseq`; later items follow it. */
  | { type: 'resync'; modseq: number };

export type FeedEnd = 'closed' | 'lost' | 'overflow' | 'failed';

export interface ChangeFeedDeps {
  hub: UserEventHub;
  changes: ChangeRepository;
  log: Logger;
}

export interface ChangeFeedOptions {
  /** The modseq the client has everything up to: replay what came after it. Undefined: live only. */
  since?: number;
  /** Beyond this many missed changes, a resync instead of a replay. */
  maxReplay: number;
  /** Live events waiting to be taken, at most (default 10,000); beyond, the feed ends with 'overflow'. */
  maxQueued?: number;
}

export interface ChangeFeed {
  readonly userId: number;
  /** Resolves once an item can be taken or the feed has ended. */
  wait(): Promise<void>;
  /** The next item if one is ready, else null (nothing yet, or the feed has ended: see `end`). */
  take(): FeedItem | null;
  /** The next item, waiting for one; null once the feed has ended. */
  next(): Promise<FeedItem | null>;
  /** Why the feed ended; null while it runs. */
  readonly end: FeedEnd | null;
  /** Resolves with the reason when the feed ends. */
  readonly ended: Promise<FeedEnd>;
  /**
   * Push instead of pull: `listener` is called synchronously whenever items become ready, and once
   * when the feed ends; it then takes what it can (`take()`). A consumer that writes to a socket
   * (SSE) uses this to skip a promise per event; null removes it.
   */
  onReady(listener: (() => void) | null): void;
  /** Ends the feed ('closed') and releases its subscription; calling it again does nothing. */
  close(): void;
}

export const DEFAULT_MAX_QUEUED = 10_000;

/** What a client that has everything up to `since` is missing. */
export type Replay = { type: 'events'; events: ChangeLogEvent[] } | { type: 'resync'; modseq: number };

/**
 * The change-log events after `since`, oldest first; or a resync at the user's current modseq when
 * more than `maxReplay` are missing or `since` is ahead of it. Rows that make no valid event are
 * skipped (and logged).
 */
export async function readReplay(deps: Pick<ChangeFeedDeps, 'changes' | 'log'>, userId: number, since: number, maxReplay: number): Promise<Replay> {
  const current = await deps.changes.currentModseq(userId);
  if (since > current) return { type: 'resync', modseq: current };
  const gap = await deps.changes.countSince(userId, since, { kinds: EVENT_CHANGE_KINDS, cap: maxReplay + 1 });
  if (gap > maxReplay) return { type: 'resync', modseq: current };
  if (gap === 0) return { type: 'events', events: [] };
  const rows = await deps.changes.readSince(userId, since, { kinds: EVENT_CHANGE_KINDS, limit: maxReplay });
  return { type: 'events', events: changeRowsToEvents(userId, rows, deps.log) };
}

/** Events with a modseq in modseq order; hints without one (`mailbox.counts`, `delivery.status`) after them. */
function byModseq(a: UserEvent, b: UserEvent): number {
  const ka = 'modseq' in a ? a.modseq : Number.POSITIVE_INFINITY;
  const kb = 'modseq' in b ? b.modseq : Number.POSITIVE_INFINITY;
  return ka === kb ? 0 : ka < kb ? -1 : 1;
}

/**
 * Opens the user's feed. Resolves once the live subscription is confirmed: from then on no change is
 * missed. The replay (with `since`) is read right after, in the background; its items come first.
 * Rejects when the subscription fails (nothing is left open then).
 */
export async function openChangeFeed(deps: ChangeFeedDeps, userId: number, options: ChangeFeedOptions): Promise<ChangeFeed> {
  const { log } = deps;
  const maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
  const queue: FeedItem[] = [];
  let head = 0;
  /** Live items in the queue (counted against maxQueued). */
  let liveQueued = 0;
  /** Live events that arrived during the replay; null once it is read (or without one). */
  let held: UserEvent[] | null = options.since === undefined ? null : [];
  /** Change-log events up to this modseq are queued already (or covered by a resync). */
  let floor = options.since ?? -1;
  let end: FeedEnd | null = null;
  let unsubscribe: (() => void) | null = null;
  let waiters: Array<() => void> = [];
  let readyListener: (() => void) | null = null;
  let markEnded!: (reason: FeedEnd) => void;
  const ended = new Promise<FeedEnd>((resolve) => (markEnded = resolve));

  function wake(): void {
    const ready = waiters;
    waiters = [];
    for (const resolve of ready) resolve();
    readyListener?.();
  }

  function finish(reason: FeedEnd): void {
    if (end) return;
    end = reason;
    queue.length = head = liveQueued = 0;
    held = null;
    unsubscribe?.();
    unsubscribe = null;
    if (reason !== 'closed') log.info({ event: 'feed.ended', userId, reason });
    markEnded(reason);
    wake();
  }

  function queueLive(event: UserEvent): void {
    if (end || ('modseq' in event && event.modseq <= floor)) return;
    if (liveQueued >= maxQueued) return finish('overflow');
    queue.push({ type: 'event', event, replayed: false });
    liveQueued++;
  }

  function onLive(event: UserEvent): void {
    if (end) return;
    if (held) {
      held.push(event);
      if (held.length > maxQueued) finish('overflow');
      return;
    }
    queueLive(event);
    wake();
  }

  async function replay(since: number): Promise<void> {
    try {
      const missed = await readReplay(deps, userId, since, options.maxReplay);
      if (end || !held) return;
      if (missed.type === 'resync') {
        queue.push({ type: 'resync', modseq: missed.modseq });
        floor = missed.modseq;
      } else {
        for (const event of missed.events) queue.push({ type: 'event', event, replayed: true });
        floor = Math.max(floor, missed.events.at(-1)?.modseq ?? floor);
      }
      // Live events that came during the replay: those it did not cover, once each, in order.
      const pending = held.sort(byModseq);
      held = null;
      const seen = new Set<number>();
      for (const event of pending) {
        if ('modseq' in event) {
          if (seen.has(event.modseq)) continue;
          seen.add(event.modseq);
        }
        queueLive(event);
      }
      wake();
    } catch (err) {
      log.warn({ event: 'feed.replay_failed', userId, err: (err as Error).message });
      finish('failed');
    }
  }

  const off = await deps.hub.subscribe(userId, { event: onLive, lost: () => finish('lost') });
  // The connection may have dropped while the subscription was confirmed: the feed is over already.
  if (end) off();
  else unsubscribe = off;
  if (options.since !== undefined && !end) void replay(options.since);

  const feed: ChangeFeed = {
    userId,
    get end() {
      return end;
    },
    ended,
    wait() {
      if (end || head < queue.length) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    take() {
      if (end || head >= queue.length) return null;
      const item = queue[head++]!;
      if (item.type === 'event' && !item.replayed) liveQueued--;
      // Drop what was taken once it is most of the array (a consumer that never quite catches up).
      if (head === queue.length) queue.length = head = 0;
      else if (head >= 1024 && head * 2 >= queue.length) {
        queue.splice(0, head);
        head = 0;
      }
      return item;
    },
    async next() {
      for (;;) {
        const item = feed.take();
        if (item || end) return item;
        await feed.wait();
      }
    },
    onReady(listener) {
      readyListener = listener;
    },
    close() {
      finish('closed');
    },
  };
  return feed;
}
