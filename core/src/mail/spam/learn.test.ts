import { describe, expect, it } from 'vitest';
import type { SpamLearnJob } from '../../queue/spam-learn.js';
import { learnFromTransfers, learnKindOf, requestLearn } from './learn.js';

/** Which moves teach what (the queue is a recording stand-in; the real path: spam-learn.worker.store.test.ts). */

describe('learnKindOf', () => {
  it('teaches spam for anything put into Junk, ham for anything taken out of it except into Trash', () => {
    expect(learnKindOf('\\Inbox', '\\Junk')).toBe('spam');
    expect(learnKindOf(null, '\\Junk')).toBe('spam');
    expect(learnKindOf('\\Trash', '\\Junk')).toBe('spam');
    expect(learnKindOf('\\Junk', '\\Inbox')).toBe('ham');
    expect(learnKindOf('\\Junk', null)).toBe('ham');
    expect(learnKindOf('\\Junk', '\\Archive')).toBe('ham');
    expect(learnKindOf('\\Junk', '\\Trash')).toBeNull();
    expect(learnKindOf('\\Junk', '\\Junk')).toBeNull();
    expect(learnKindOf('\\Inbox', '\\Archive')).toBeNull();
    expect(learnKindOf(null, null)).toBeNull();
  });
});

describe('learnFromTransfers', () => {
  it('queues one job per message that entered or left Junk, and nothing else', async () => {
    const queued: SpamLearnJob[] = [];
    const hook = learnFromTransfers({ queue: { enqueue: async (jobs) => void queued.push(...jobs) } })!;
    await hook([
      { userId: 1, messageId: 10, from: '\\Inbox', to: '\\Junk' },
      { userId: 1, messageId: 11, from: '\\Junk', to: '\\Inbox' },
      { userId: 1, messageId: 12, from: '\\Junk', to: '\\Trash' },
      { userId: 2, messageId: 20, from: null, to: '\\Junk' },
      { userId: 1, messageId: 13, from: '\\Inbox', to: '\\Archive' },
    ]);
    expect(queued.sort((a, b) => a.messageId - b.messageId)).toEqual([
      { userId: 1, messageId: 10, kind: 'spam' },
      { userId: 1, messageId: 11, kind: 'ham' },
      { userId: 2, messageId: 20, kind: 'spam' },
    ]);
  });

  it('is no hook at all without an engine, and requestLearn then queues nothing', async () => {
    expect(learnFromTransfers({ queue: null })).toBeUndefined();
    await expect(requestLearn({ queue: null }, { userId: 1, messageIds: [1], kind: 'spam' })).resolves.toBeUndefined();
  });
});
