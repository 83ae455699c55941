import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateRedisUrl } from '../../../tests/helpers/redis.js';
import { createLogger } from '../log/logger.js';
import { createRedis, createSubscriberRedis } from '../queue/redis.js';
import { userChannel, type UserEvent } from '../contracts/events.js';
import { createUserEventHub } from './user-event-hub.js';

/**
 * The hub's one subscriber connection on a real Redis, subscribed while it is still connecting:
 * the moment many IMAP sessions signing in at once (or SSE streams opening) hit.
 */

let url: string;
let publisher: Redis;
beforeAll(async () => {
  url = (await allocateRedisUrl()).url;
  publisher = createRedis(url);
});
afterAll(() => publisher?.disconnect());

const newMessage = (uid: number): UserEvent => ({ type: 'message.new', modseq: uid, mailboxId: 1, messageId: uid, uid, threadId: uid });

describe('user event hub', () => {
  it('subscribes users before, while and after its connection is set up; every listener hears its events and none is told the feed was lost', async () => {
    const subscribers: Redis[] = [];
    const hub = createUserEventHub({
      createSubscriber: () => {
        const sub = createSubscriberRedis(url);
        subscribers.push(sub);
        return sub;
      },
      log: createLogger({ name: 'test', level: 'silent' }),
    });
    try {
      const heard = new Map<number, UserEvent[]>();
      let lost = 0;
      const listen = (userId: number) => hub.subscribe(userId, { event: (e) => heard.set(userId, [...(heard.get(userId) ?? []), e]), lost: () => lost++ });
      // Base a user id on the time so that no other test's channel is ours (pub/sub ignores the database index).
      const base = 900_000_000 + (Date.now() % 1_000_000) * 10;
      const first = listen(base); // the connection is created: this SUBSCRIBE waits in the offline queue
      const sub = subscribers[0]!;
      // TCP is up, the handshake is not done: a SUBSCRIBE now goes out at once, among the handshake's commands.
      await once(sub, 'connect');
      const during = [listen(base + 1), listen(base + 2)];
      await Promise.all([first, ...during]);
      if (sub.status !== 'ready') await once(sub, 'ready');
      await listen(base + 3);
      for (let i = 0; i < 4; i++) await publisher.publish(userChannel(base + i), JSON.stringify(newMessage(i + 1)));
      const deadline = Date.now() + 10_000;
      while ([0, 1, 2, 3].some((i) => !heard.has(base + i)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect([0, 1, 2, 3].map((i) => heard.get(base + i)?.map((e) => (e.type === 'message.new' ? e.uid : 0)))).toEqual([[1], [2], [3], [4]]);
      expect(lost).toBe(0);
    } finally {
      hub.close();
    }
  });
});
