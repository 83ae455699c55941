import type { Redis } from 'ioredis';
import { userChannel, type UserEvent } from '../contracts/events.js';

export interface EventPublisher {
  /** Sends the event; calls made one after another without waiting are sent in that order (publishMailboxEvents relies on it). */
  publish(userId: number, event: UserEvent): Promise<void>;
}

/** Publishes on Redis pub/sub. Events are hints: the change log in Postgres is the record. */
export function createRedisEventPublisher(redis: Redis): EventPublisher {
  return {
    async publish(userId, event) {
      await redis.publish(userChannel(userId), JSON.stringify(event));
    },
  };
}
