import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  AppError,
  createChangeRepository,
  createUserEventHub,
  openChangeFeed,
  type ChangeFeed,
  type ChangeRepository,
  type FeedItem,
  type Logger,
  type UserEventHub,
} from '@mailyard/core';
import { errorResponses, eventsQuery, eventStreamResponse } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser, SESSION_COOKIE } from '../../plugins/auth.plugin.js';

/**
 * `GET /api/events`: the signed-in user's live updates as Server-Sent Events, one stream per tab.
 *
 * Frames: `retry: <ms>` first, written once the subscription is live; then each event as `id: <modseq>` (only events from the change
 * log have one), `event: <type>`, `data: <the event as JSON>`; a `: ping` comment every
 * `heartbeatMs` so proxies keep the connection open.
 *
 * Catching up: with `Last-Event-ID: <modseq>` (what EventSource sends when it reconnects; it wins
 * over the query) or `?since=<modseq>` (the modseq the page loaded at), the stream first replays
 * every change after it from the change log, oldest first, then goes live, each change once (core's
 * change feed, core/src/events/change-feed.ts, does this; the route frames what it yields). When
 * more than `maxReplay` changes are missing, or the client's modseq is ahead of the server's, it
 * sends instead `id: <current modseq>`, `event: resync`, `data: {"modseq": <current>}`: reload
 * everything, the stream continues live from there.
 *
 * The stream ends when the client goes, when the session is no longer valid (checked with every
 * heartbeat), when the client cannot keep up, when the Redis subscriber connection drops (the
 * client reconnects and replays what it missed), and when the server closes.
 */

export interface EventStreamOptions {
  /** Interval of `: ping` comment lines. */
  heartbeatMs: number;
  /** Reconnection delay sent to EventSource (`retry:`). */
  retryMs: number;
  /** Beyond this many missed changes, `resync` instead of a replay. */
  maxReplay: number;
}

/**
 * What `eventsRoutes` uses when not told otherwise. `buildBackend` registers the routes without
 * options, so tests that need a short heartbeat set it here (per test file: each file runs in
 * its own process) before building the backend.
 */
export const eventStreamDefaults: EventStreamOptions = { heartbeatMs: 25_000, retryMs: 3_000, maxReplay: 10_000 };

/** A client that cannot take this much unsent data is dropped; it reconnects and replays. */
const MAX_UNSENT_BYTES = 1024 * 1024;

/** The `Last-Event-ID` header as a modseq; undefined when absent or empty. */
function lastEventId(header: string | string[] | undefined): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new AppError('request.invalid', 'Last-Event-ID must be a modseq (a non-negative integer)', 400);
  return Number(value);
}

function frame(item: FeedItem): string {
  if (item.type === 'resync') return `id: ${item.modseq}\nevent: resync\ndata: ${JSON.stringify({ modseq: item.modseq })}\n\n`;
  const { event } = item;
  const id = 'modseq' in event ? `id: ${event.modseq}\n` : '';
  return `${id}event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

interface StreamDeps {
  hub: UserEventHub;
  changes: ChangeRepository;
  log: Logger;
  settings: EventStreamOptions;
  /** False once the session behind the stream is gone (logout, expiry, disabled user). */
  sessionValid(): Promise<boolean>;
}

interface OpenStream {
  end(): void;
}

/** Runs one stream on a hijacked response until it ends; never throws. */
async function runStream(deps: StreamDeps, res: ServerResponse, userId: number, since: number | undefined, register: (s: OpenStream) => () => void): Promise<void> {
  const { log, settings } = deps;
  let ended = false;
  let feed: ChangeFeed | null = null;

  const unregister = register({ end: () => finish() });
  const heartbeat = setInterval(() => {
    write(': ping\n\n');
    deps.sessionValid().then(
      (valid) => {
        if (!valid) finish();
      },
      () => undefined,
    );
  }, settings.heartbeatMs);

  function cleanup(): void {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    unregister();
    feed?.close();
    log.debug({ event: 'sse.closed', userId });
  }
  function finish(): void {
    if (!res.writableEnded) res.end();
    cleanup();
  }
  res.on('close', cleanup);
  res.on('error', cleanup);

  /**
   * Writes a chunk; false: the client is behind ('drain' comes when it caught up). Live data to a
   * client with more than MAX_UNSENT_BYTES unsent drops it; the replay waits for it instead.
   */
  function write(chunk: string, replay = false): boolean {
    if (ended || res.writableEnded) return false;
    const ok = res.write(chunk);
    if (!ok && !replay && res.writableLength > MAX_UNSENT_BYTES) {
      log.info({ event: 'sse.client_too_slow', userId });
      finish();
    }
    return ok;
  }
  function drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  }

  try {
    feed = await openChangeFeed({ hub: deps.hub, changes: deps.changes, log }, userId, { since, maxReplay: settings.maxReplay });
  } catch (err) {
    log.warn({ event: 'sse.failed', userId, err: (err as Error).message });
    finish();
    return;
  }
  if (ended) return feed.close();
  const open = feed;
  // First frame, once the subscription is live: from here on no event is missed.
  write(`retry: ${settings.retryMs}\n\n`);
  let draining = false;
  /**
   * Writes what the feed has ready, up to 200 frames per write, synchronously as it arrives. The
   * replay (and a resync) waits while the client drains; live events do not wait, and a client
   * too far behind them is dropped.
   */
  function pump(): void {
    if (ended || draining) return;
    if (open.end) return finish();
    for (;;) {
      let chunk = '';
      let replay = false;
      for (let n = 0; n < 200; n++) {
        const item = open.take();
        if (!item) break;
        chunk += frame(item);
        replay ||= item.type === 'resync' || item.replayed;
      }
      if (chunk === '') return;
      if (!write(chunk, replay) && replay && !ended) {
        draining = true;
        void drained().then(() => {
          draining = false;
          pump();
        });
        return;
      }
    }
  }
  open.onReady(pump);
  pump();
  await open.ended;
  finish();
}

export function eventsRoutes(ctx: BackendContext, options: Partial<EventStreamOptions> = {}): FastifyPluginAsyncZod {
  return async (app) => {
    const settings: EventStreamOptions = { ...eventStreamDefaults, ...options };
    const hub = createUserEventHub({ createSubscriber: ctx.createSubscriber, log: ctx.log });
    const changes = createChangeRepository(ctx.db);
    const open = new Set<OpenStream>();
    const register = (s: OpenStream) => {
      open.add(s);
      return () => void open.delete(s);
    };
    const endAll = () => {
      for (const s of [...open]) s.end();
    };
    // preClose: before the server waits for in-flight requests, or an open stream would hold close() forever.
    app.addHook('preClose', async () => endAll());
    app.addHook('onClose', async () => {
      endAll();
      hub.close();
    });

    app.get(
      '/api/events',
      {
        onRequest: requireUser,
        // A HEAD would hold a subscription open with nothing to send.
        exposeHeadRoute: false,
        schema: {
          tags: ['events'],
          summary: 'Live updates (text/event-stream)',
          description:
            'Server-Sent Events. Each event: `id: <modseq>` (change-log events only), `event: <type>`, `data: <JSON>` (see the userEvent contract). Send `Last-Event-ID` or `?since=` to replay what was missed; `event: resync` means reload.',
          querystring: eventsQuery,
          response: { 200: eventStreamResponse, ...errorResponses(400, 401) },
        },
      },
      async (req, reply) => {
        const me = currentUser(req);
        const since = lastEventId(req.headers['last-event-id']) ?? req.query.since;
        const token = req.cookies[SESSION_COOKIE] ?? '';
        const sessionValid = async () => {
          const session = await ctx.sessions.verify(token);
          return session !== null && session.sessionId === me.sessionId && !session.mfaPending;
        };

        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          'x-accel-buffering': 'no',
        });
        req.raw.socket.setNoDelay(true);
        ctx.log.debug({ event: 'sse.opened', userId: me.userId, since });
        await runStream({ hub, changes, log: ctx.log, settings, sessionValid }, res, me.userId, since, register);
      },
    );
  };
}
