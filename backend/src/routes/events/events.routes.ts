import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError, countChangesSince, errorResponse, readChangesSince, type Db, type Logger, type UserEvent } from '@mailyard/core';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser, SESSION_COOKIE } from '../../plugins/auth.plugin.js';
import { createUserEventHub, type UserEventHub } from './user-event-hub.js';

/**
 * `GET /api/events`: the signed-in user's live updates as Server-Sent Events, one stream per tab.
 *
 * Frames: `retry: <ms>` first, written once the subscription is live; then each event as `id: <modseq>` (only events from the change
 * log have one), `event: <type>`, `data: <the event as JSON>`; a `: ping` comment every
 * `heartbeatMs` so proxies keep the connection open.
 *
 * Catching up: with `Last-Event-ID: <modseq>` (what EventSource sends when it reconnects; it wins
 * over the query) or `?since=<modseq>` (the modseq the page loaded at), the stream first replays
 * every change after it from the change log, oldest first, then goes live. It subscribes BEFORE
 * reading the log and holds live events back until the replay is written, then sends only those
 * the replay did not (by modseq), so nothing falls in between and nothing comes twice. When more
 * than `maxReplay` changes are missing, or the client's modseq is ahead of the server's, it sends
 * instead `id: <current modseq>`, `event: resync`, `data: {"modseq": <current>}`: reload
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
/** Live events held back during a replay, at most. */
const MAX_HELD_EVENTS = 10_000;

const eventsQuery = z.object({
  since: z.coerce.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional().describe('Replay changes after this modseq (Last-Event-ID wins when both are given)'),
});

/** The `Last-Event-ID` header as a modseq; undefined when absent or empty. */
function lastEventId(header: string | string[] | undefined): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new AppError('request.invalid', 'Last-Event-ID must be a modseq (a non-negative integer)', 400);
  return Number(value);
}

function frame(event: UserEvent): string {
  const id = 'modseq' in event ? `id: ${event.modseq}\n` : '';
  return `${id}event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** Events with a modseq in modseq order; `mailbox.counts` hints (no modseq) after them. */
function byModseq(a: UserEvent, b: UserEvent): number {
  const ka = 'modseq' in a ? a.modseq : Number.POSITIVE_INFINITY;
  const kb = 'modseq' in b ? b.modseq : Number.POSITIVE_INFINITY;
  return ka === kb ? 0 : ka < kb ? -1 : 1;
}

interface StreamDeps {
  db: Db;
  hub: UserEventHub;
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
  const { db, hub, log, settings } = deps;
  let ended = false;
  let unsubscribe: (() => void) | null = null;
  let replaying = since !== undefined;
  const held: UserEvent[] = [];
  /** Events with a modseq up to here are with the client already. */
  let floor = since ?? -1;

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
    unsubscribe?.();
    unsubscribe = null;
    log.debug({ event: 'sse.closed', userId });
  }
  function finish(): void {
    if (!res.writableEnded) res.end();
    cleanup();
  }
  res.on('close', cleanup);
  res.on('error', cleanup);

  function write(chunk: string): boolean {
    if (ended || res.writableEnded) return false;
    const ok = res.write(chunk);
    if (!ok && res.writableLength > MAX_UNSENT_BYTES) {
      log.info({ event: 'sse.client_too_slow', userId });
      finish();
    }
    return ok;
  }
  /** For the replay: waits while the client drains, instead of dropping it. */
  async function writeAndWait(chunk: string): Promise<void> {
    if (ended || res.writableEnded) return;
    if (!res.write(chunk)) await new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  }

  function deliver(event: UserEvent): void {
    if ('modseq' in event && event.modseq <= floor) return;
    write(frame(event));
  }

  const listener = {
    event(event: UserEvent) {
      if (!replaying) return deliver(event);
      held.push(event);
      if (held.length > MAX_HELD_EVENTS) finish();
    },
    lost() {
      finish();
    },
  };

  try {
    const off = await hub.subscribe(userId, listener);
    if (ended) return off();
    unsubscribe = off;
    // First frame, once the subscription is live: from here on no event is missed.
    write(`retry: ${settings.retryMs}\n\n`);
    if (since === undefined) return;

    // The subscription is live, so every change committed from here on also arrives as an event.
    const current = (await db.selectFrom('users').select('modseq').where('id', '=', userId).executeTakeFirst())?.modseq ?? 0;
    const gap = since > current ? Number.POSITIVE_INFINITY : await countChangesSince(db, userId, since, settings.maxReplay + 1);
    if (gap > settings.maxReplay) {
      await writeAndWait(`id: ${current}\nevent: resync\ndata: ${JSON.stringify({ modseq: current })}\n\n`);
      floor = current;
    } else if (gap > 0) {
      const events = await readChangesSince(db, userId, since, settings.maxReplay, log);
      for (let i = 0; i < events.length && !ended; i += 200) await writeAndWait(events.slice(i, i + 200).map(frame).join(''));
      const last = events.at(-1);
      if (last) floor = Math.max(floor, last.modseq);
    }
    if (ended) return;
    // Live events that came during the replay: those it did not cover, once each, in order.
    const seen = new Set<number>();
    const pending = held.splice(0).sort(byModseq);
    replaying = false;
    for (const event of pending) {
      if ('modseq' in event) {
        if (seen.has(event.modseq)) continue;
        seen.add(event.modseq);
      }
      deliver(event);
    }
  } catch (err) {
    log.warn({ event: 'sse.failed', userId, err: (err as Error).message });
    finish();
  }
}

export function eventsRoutes(ctx: BackendContext, options: Partial<EventStreamOptions> = {}): FastifyPluginAsyncZod {
  return async (app) => {
    const settings: EventStreamOptions = { ...eventStreamDefaults, ...options };
    const hub = createUserEventHub({ createSubscriber: ctx.createSubscriber, log: ctx.log });
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
        preHandler: requireUser,
        // A HEAD would hold a subscription open with nothing to send.
        exposeHeadRoute: false,
        schema: {
          tags: ['events'],
          summary: 'Live updates (text/event-stream)',
          description:
            'Server-Sent Events. Each event: `id: <modseq>` (change-log events only), `event: <type>`, `data: <JSON>` (see the userEvent contract). Send `Last-Event-ID` or `?since=` to replay what was missed; `event: resync` means reload.',
          querystring: eventsQuery,
          response: { 400: errorResponse, 401: errorResponse },
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
        await runStream({ db: ctx.db, hub, log: ctx.log, settings, sessionValid }, res, me.userId, since, register);
      },
    );
  };
}
