import { randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { allocateRedisUrl } from '../../../tests/helpers/redis.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import type { UserEvent } from '../contracts/events.js';
import { silentLogger } from '../log/logger.js';
import { createChangeRepository, type ChangeRepository } from '../repositories/change.repository.js';
import { openChangeFeed, type ChangeFeed, type ChangeFeedOptions, type FeedItem } from './change-feed.js';
import { toChangeRow, type ChangeLogEvent } from './change-log.js';
import { createRedisEventPublisher } from './publisher.js';
import { createSubscriberRedis } from '../queue/redis.js';
import { createUserEventHub, type UserEventHub } from './user-event-hub.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let redisUrl: string;
let flushRedis: () => Promise<void>;
let redis: Redis;
let hub: UserEventHub;
/** The hub's subscriber connection, by name (to kill it). */
const subscriberName = `feed-test-${randomInt(1e9)}`;
const feeds: ChangeFeed[] = [];
const log = silentLogger();
const publish = (userId: number, event: UserEvent) => createRedisEventPublisher(redis).publish(userId, event);

beforeAll(async () => {
  store = await createTestStore();
  // Redis pub/sub ignores the database index: user ids start at a random high value so that
  // `user:<id>` channels are this file's alone on the run's shared Redis.
  await sql`ALTER SEQUENCE users_id_seq RESTART WITH ${sql.lit(randomInt(1_000_000, 2 ** 40))}`.execute(store.db);
  await createAccountsService({ db: store.db, secrets: testSecrets }).addDomain('feed.test');
  ({ url: redisUrl, flush: flushRedis } = await allocateRedisUrl());
  redis = new Redis(redisUrl);
  hub = createUserEventHub({
    createSubscriber: () => createSubscriberRedis(redisUrl, { connectionName: subscriberName }),
    log,
  });
});

afterEach(() => {
  for (const feed of feeds.splice(0)) feed.close();
});

afterAll(async () => {
  hub?.close();
  await flushRedis?.();
  redis?.disconnect();
  await store?.drop();
});

let users = 0;
async function newUser(): Promise<number> {
  users++;
  return (await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: `u${users}@feed.test`, password: 'feed password' })).id;
}

/** A flag change the way a writer makes one: the user's next modseq and its change row, in one transaction (not published). */
async function commitChange(userId: number): Promise<ChangeLogEvent> {
  return store.db.transaction().execute(async (tx) => {
    const { modseq } = await tx.updateTable('users').set({ modseq: sql`modseq + 1` }).where('id', '=', userId).returning('modseq').executeTakeFirstOrThrow();
    const event: ChangeLogEvent = { type: 'message.flags', modseq, mailboxId: 1, messageId: modseq, uid: modseq, flags: [`$m${modseq}`] };
    await tx.insertInto('changes').values(toChangeRow(userId, event)).execute();
    return event;
  });
}

/** Committed and then published, as every writer does. */
async function change(userId: number): Promise<ChangeLogEvent> {
  const event = await commitChange(userId);
  await publish(userId, event);
  return event;
}

async function open(userId: number, options: Partial<ChangeFeedOptions> = {}, changes: ChangeRepository = createChangeRepository(store.db)): Promise<ChangeFeed> {
  const feed = await openChangeFeed({ hub, changes, log }, userId, { maxReplay: 100, ...options });
  feeds.push(feed);
  return feed;
}

/** Takes items until one satisfies `last`; fails when the feed ends first. */
async function takeUntil(feed: ChangeFeed, last: (item: FeedItem) => boolean): Promise<FeedItem[]> {
  const items: FeedItem[] = [];
  for (;;) {
    const item = await feed.next();
    if (!item) throw new Error(`the feed ended (${feed.end}) after ${JSON.stringify(items)}`);
    items.push(item);
    if (last(item)) return items;
  }
}

const modseqOf = (item: FeedItem) => (item.type === 'resync' ? item.modseq : 'modseq' in item.event ? item.event.modseq : null);
const isModseq = (modseq: number) => (item: FeedItem) => modseqOf(item) === modseq;
const summary = (items: FeedItem[]) => items.map((i) => (i.type === 'resync' ? `resync ${i.modseq}` : `${i.replayed ? 'replay' : 'live'} ${i.event.type} ${modseqOf(i) ?? ''}`.trim()));

/** Resolves once the hub has delivered `n` more events of the user to its listeners (the feed's among them). */
async function hubDelivered(userId: number, n: number, during: () => Promise<unknown>): Promise<void> {
  let seen = 0;
  let done!: () => void;
  const delivered = new Promise<void>((resolve) => (done = resolve));
  const off = await hub.subscribe(userId, { event: () => ++seen === n && done(), lost: () => undefined });
  try {
    await during();
    await delivered;
  } finally {
    off();
  }
}

/** A gate the test opens: `reached` resolves when code arrives at it, `open()` lets it pass. */
function gate() {
  let arrived!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  const passed = new Promise<void>((resolve) => (release = resolve));
  return {
    reached,
    open: release,
    pass(): Promise<void> {
      arrived();
      return passed;
    },
  };
}

describe('the change feed', () => {
  it('without a modseq, yields live events in the order published, and nothing from before', async () => {
    const userId = await newUser();
    await change(userId);
    const feed = await open(userId);
    const a = await change(userId);
    const counts: UserEvent = { type: 'mailbox.counts', mailboxId: 3, total: 2, unread: 1 };
    await publish(userId, counts);
    const b = await change(userId);
    const items = await takeUntil(feed, isModseq(b.modseq));
    expect(items).toEqual([
      { type: 'event', event: a, replayed: false },
      { type: 'event', event: counts, replayed: false },
      { type: 'event', event: b, replayed: false },
    ]);
  });

  it('replays what came after the modseq from the change log, then goes live', async () => {
    const userId = await newUser();
    const seen = await change(userId);
    const missed = [await commitChange(userId), await commitChange(userId)];
    const feed = await open(userId, { since: seen.modseq });
    expect(await takeUntil(feed, isModseq(missed[1]!.modseq))).toEqual(missed.map((event) => ({ type: 'event', event, replayed: true })));
    const live = await change(userId);
    expect(await feed.next()).toEqual({ type: 'event', event: live, replayed: false });
  });

  it('loses nothing and doubles nothing when changes commit and are published while the replay reads the log', async () => {
    const userId = await newUser();
    const seen = await change(userId);
    const missed = await commitChange(userId);

    // Stop the replay twice: before it counts the gap, and after it has read the rows.
    const beforeCount = gate();
    const afterRead = gate();
    const real = createChangeRepository(store.db);
    const paused: ChangeRepository = {
      ...real,
      countSince: async (...args) => {
        await beforeCount.pass();
        return real.countSince(...args);
      },
      readSince: async (...args) => {
        const rows = await real.readSince(...args);
        await afterRead.pass();
        return rows;
      },
    };
    const feed = await open(userId, { since: seen.modseq }, paused);
    await beforeCount.reached;
    // k1 commits before the replay counts: the replay reads it, and its live event (and a
    // repeat of `missed`'s) must not come again.
    let k1!: ChangeLogEvent;
    await hubDelivered(userId, 2, async () => {
      k1 = await change(userId);
      await publish(userId, missed);
    });
    beforeCount.open();
    await afterRead.reached;
    // k2 commits after the replay read the log: only its live event carries it.
    let k2!: ChangeLogEvent;
    await hubDelivered(userId, 1, async () => (k2 = await change(userId)));
    afterRead.open();
    const k3 = await change(userId);

    const items = await takeUntil(feed, isModseq(k3.modseq));
    expect(summary(items)).toEqual([
      `replay message.flags ${missed.modseq}`,
      `replay message.flags ${k1.modseq}`,
      `live message.flags ${k2.modseq}`,
      `live message.flags ${k3.modseq}`,
    ]);
    expect(items.map((i) => i.type === 'event' && i.event)).toEqual([missed, k1, k2, k3]);
  });

  it('waits for its consumer: events queue up in order until they are taken', async () => {
    const userId = await newUser();
    const feed = await open(userId);
    const events: ChangeLogEvent[] = [];
    await hubDelivered(userId, 3, async () => {
      for (let i = 0; i < 3; i++) events.push(await change(userId));
    });
    const taken: FeedItem[] = [];
    for (let item = feed.take(); item; item = feed.take()) taken.push(item);
    expect(taken.map((i) => i.type === 'event' && i.event)).toEqual(events);
    expect(feed.take()).toBeNull();
    expect(feed.end).toBeNull();
  });

  it('answers a gap over maxReplay with one resync at the current modseq, then goes live', async () => {
    const userId = await newUser();
    const seen = await change(userId);
    for (let i = 0; i < 4; i++) await commitChange(userId);
    const current = seen.modseq + 4;
    const feed = await open(userId, { since: seen.modseq, maxReplay: 3 });
    expect(await feed.next()).toEqual({ type: 'resync', modseq: current });
    const live = await change(userId);
    expect(await feed.next()).toEqual({ type: 'event', event: live, replayed: false });

    // Exactly maxReplay missing is still a replay.
    const within = await open(userId, { since: seen.modseq + 1, maxReplay: 4 });
    expect(summary(await takeUntil(within, isModseq(live.modseq)))).toEqual([2, 3, 4, 5].map((n) => `replay message.flags ${seen.modseq + n}`));
  });

  it('answers a modseq ahead of the user (another database) with a resync at the current modseq', async () => {
    const userId = await newUser();
    const last = await change(userId);
    const feed = await open(userId, { since: last.modseq + 1000 });
    expect(await feed.next()).toEqual({ type: 'resync', modseq: last.modseq });
  });

  it("ends with 'lost' when the subscriber connection drops, and a new feed from the last modseq replays what pub/sub lost", async () => {
    const userId = await newUser();
    const feed = await open(userId);
    const before = await change(userId);
    expect(await feed.next()).toEqual({ type: 'event', event: before, replayed: false });
    const clients = ((await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string).split('\n').filter((line) => line.includes(` name=${subscriberName} `));
    expect(clients).toHaveLength(1);
    await redis.call('CLIENT', 'KILL', 'ID', /\bid=(\d+)/.exec(clients[0]!)![1]!);
    expect(await feed.ended).toBe('lost');
    expect(await feed.next()).toBeNull();

    const missed = await change(userId);
    const again = await open(userId, { since: before.modseq });
    expect(await again.next()).toEqual({ type: 'event', event: missed, replayed: true });
    const live = await change(userId);
    expect(await again.next()).toEqual({ type: 'event', event: live, replayed: false });
  });

  it("ends with 'overflow' when more than maxQueued live events wait, and releases its subscription", async () => {
    const userId = await newUser();
    const feed = await open(userId, { maxQueued: 2 });
    await hubDelivered(userId, 3, async () => {
      for (let i = 0; i < 3; i++) await change(userId);
    });
    expect(feed.end).toBe('overflow');
    expect(feed.take()).toBeNull();
    expect(hub.subscribedUsers()).not.toContain(userId);
  });

  it('close() ends a waiting consumer and unsubscribes the user', async () => {
    const userId = await newUser();
    const feed = await open(userId);
    expect(hub.subscribedUsers()).toContain(userId);
    const waiting = feed.next();
    feed.close();
    expect(await waiting).toBeNull();
    expect(await feed.ended).toBe('closed');
    expect(hub.subscribedUsers()).not.toContain(userId);
  });

  it('onReady pushes: the listener runs when items are ready and once at the end, and takes them in order', async () => {
    const userId = await newUser();
    const feed = await open(userId, { since: 0 });
    const taken: FeedItem[] = [];
    let calls = 0;
    const ready = () => {
      calls++;
      for (let item = feed.take(); item; item = feed.take()) taken.push(item);
    };
    feed.onReady(ready);
    const a = await change(userId);
    const b = await change(userId);
    const deadline = Date.now() + 10_000;
    while (!taken.some(isModseq(b.modseq)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(summary(taken)).toEqual([`live message.flags ${a.modseq}`, `live message.flags ${b.modseq}`]);
    const before = calls;
    feed.close();
    expect(calls).toBe(before + 1);
    expect(feed.end).toBe('closed');
  });
});
