import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { allocateRedisUrl } from '../../../tests/helpers/redis.js';
import { eventually } from '../../../tests/helpers/services.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { silentLogger } from '../log/logger.js';
import { ingestMessage, TRASH_RETENTION_MS } from '../mail/mailbox-writer/index.js';
import { summarizeMessage } from '../mail/parse.js';
import { housekeepingQueueName, startHousekeeping, type HousekeepingTask } from '../queue/housekeeping.js';
import { trashPurgeTask } from './trash-purge.task.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let redisUrl: string;
let flushRedis: () => Promise<void>;
/** Replicas' connections, queues and housekeepers to close after each test. */
const open: Array<{ close(): unknown }> = [];
const log = silentLogger();
const noEvents = { publish: async () => undefined };

beforeAll(async () => {
  store = await createTestStore();
  ({ url: redisUrl, flush: flushRedis } = await allocateRedisUrl());
  await createAccountsService({ db: store.db, secrets: testSecrets }).addDomain('hk.test');
});

afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
  await flushRedis();
});

afterAll(async () => {
  await store?.drop();
});

/** One replica of a service: its own Redis connection and housekeeping worker. */
async function replica(tasks: HousekeepingTask[]) {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  open.push({ close: () => connection.disconnect() });
  const housekeeping = await startHousekeeping({ connection, log }, tasks);
  open.push({ close: () => housekeeping.stop() });
  return housekeeping;
}

function inspect(taskName: string): Queue {
  const queue = new Queue(housekeepingQueueName(taskName), { connection: { url: redisUrl } });
  open.push({ close: () => queue.close() });
  return queue;
}

let seq = 0;
async function fileInTrash(userId: number, movedAt: Date): Promise<number> {
  seq++;
  const raw = Buffer.from(`From: s@remote.test\r\nTo: x@hk.test\r\nSubject: t${seq}\r\nMessage-ID: <hk${seq}@remote.test>\r\n\r\nbody ${seq}\r\n`);
  const filed = await ingestMessage({ db: store.db, events: noEvents }, { userId, mailbox: { specialUse: '\\Trash' }, content: { raw }, summary: await summarizeMessage(raw) });
  await store.db.updateTable('messages').set({ moved_at: movedAt }).where('id', '=', filed.messageId).execute();
  return filed.messageId;
}

const messageExists = async (id: number) => (await store.db.selectFrom('messages').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;

describe('housekeeping', () => {
  it('runs a task once per period across two replicas, not once per replica', async () => {
    const everyMs = 300;
    const runs = { a: 0, b: 0 };
    // The real Trash purge, counted per replica.
    const counted = (name: 'a' | 'b'): HousekeepingTask => {
      const task = trashPurgeTask({ db: store.db, events: noEvents, log }, everyMs);
      return {
        ...task,
        run: () => {
          runs[name]++;
          return task.run();
        },
      };
    };
    const a = await replica([counted('a')]);
    const b = await replica([counted('b')]);
    const queue = inspect('trash-purge');
    // Both upserted one scheduler under one id.
    expect((await queue.getJobSchedulers()).map((s) => s.key)).toEqual(['trash-purge']);

    await eventually(async () => (await queue.getCompletedCount()) >= 4, { timeoutMs: 20_000, describe: async () => JSON.stringify(await queue.getJobCounts()) });
    await a.stop();
    await b.stop();

    const done = await queue.getCompleted();
    // Every run is one job, and every job ran once (a run per replica would double the runs).
    expect(runs.a + runs.b).toBe(done.length);
    expect(done.every((job) => job.attemptsMade <= 1 && job.returnvalue !== null)).toBe(true);
    // Each job is a different period: its id carries the scheduled time, a whole number of periods apart.
    const slots = done.map((job) => Number(/^repeat:trash-purge:(\d+)$/.exec(job.id ?? '')?.[1])).sort((x, y) => x - y);
    expect(new Set(slots).size).toBe(slots.length);
    for (let i = 1; i < slots.length; i++) {
      expect(slots[i]! - slots[i - 1]!).toBeGreaterThan(0);
      expect((slots[i]! - slots[i - 1]!) % everyMs).toBe(0);
    }
  });

  it('the Trash purge job deletes mail that has been in Trash for 30 days, and nothing else', async () => {
    const user = await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: 'tom@hk.test', password: 'tom password' });
    const old = await fileInTrash(user.id, new Date(Date.now() - TRASH_RETENTION_MS - 3_600_000));
    const recent = await fileInTrash(user.id, new Date(Date.now() - TRASH_RETENTION_MS + 3_600_000));

    // The hourly schedule's first run comes as soon as the scheduler is created.
    await replica([trashPurgeTask({ db: store.db, events: noEvents, log })]);
    const queue = inspect('trash-purge');
    await eventually(async () => (await queue.getCompletedCount()) === 1, { timeoutMs: 20_000, describe: async () => JSON.stringify(await queue.getJobCounts()) });
    expect((await queue.getCompleted())[0]!.returnvalue).toEqual({ users: 1, messages: 1 });
    expect(await messageExists(old)).toBe(false);
    expect(await messageExists(recent)).toBe(true);
  });

  it('keeps the schedule when a replica restarts: the same scheduler, no extra run', async () => {
    const task: HousekeepingTask = { name: 'noop', everyMs: 3_600_000, run: async () => ({}) };
    const first = await replica([task]);
    const queue = inspect('noop');
    await eventually(async () => (await queue.getCompletedCount()) === 1, { timeoutMs: 20_000 });
    const next = (await queue.getDelayed()).map((job) => job.id);
    expect(next).toHaveLength(1);
    await first.stop();
    await replica([task]);
    expect((await queue.getDelayed()).map((job) => job.id)).toEqual(next);
    expect(await queue.getCompletedCount()).toBe(1);
    expect(await queue.getJobSchedulersCount()).toBe(1);
  });
});
