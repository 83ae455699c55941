import { describe, expect, it } from 'vitest';
import type { UserEvent } from '../../contracts/events.js';
import type { Db } from '../../db/client.js';
import type { Logger } from '../../log/logger.js';
import { publishMailboxEvents, type MailboxWriterDeps } from './index.js';

const flags = (uid: number): UserEvent => ({ type: 'message.flags', modseq: uid, mailboxId: 1, messageId: uid, uid, flags: ['\\Seen'] });

/** A publisher whose sends stay unanswered until `answer` (as a slow Redis would), and a log that keeps its warnings. */
function slowDeps(fail?: (uid: number) => boolean) {
  const sent: Array<{ userId: number; uid: number; answer(): void }> = [];
  const warnings: unknown[] = [];
  const deps: MailboxWriterDeps = {
    db: null as unknown as Db, // publishing does not touch the store
    events: {
      publish: (userId, event) =>
        new Promise<void>((resolve, reject) => {
          const uid = (event as { uid: number }).uid;
          sent.push({ userId, uid, answer: () => (fail?.(uid) ? reject(new Error(`lost ${uid}`)) : resolve()) });
        }),
    },
    log: { warn: (o: unknown) => void warnings.push(o) } as unknown as Logger,
  };
  return { deps, sent, warnings };
}

describe('publishMailboxEvents', () => {
  it('sends every event at once, each user’s in order, and resolves when all are answered', async () => {
    const { deps, sent } = slowDeps();
    let done = false;
    const publishing = publishMailboxEvents(deps, [1, 2, 3].map((uid) => ({ userId: 7, event: flags(uid) })).concat([{ userId: 8, event: flags(4) }])).then(() => (done = true));
    // All four are out before any answer (one round trip, not one per event), in the order given.
    expect(sent.map((s) => [s.userId, s.uid])).toEqual([[7, 1], [7, 2], [7, 3], [8, 4]]);
    for (const s of sent.slice(0, 3)) s.answer();
    await Promise.resolve();
    expect(done).toBe(false);
    sent[3]!.answer();
    await publishing;
    expect(done).toBe(true);
  });

  it('logs a failed send once per user and does not throw (the change log is the record)', async () => {
    const { deps, sent, warnings } = slowDeps((uid) => uid >= 2);
    const publishing = publishMailboxEvents(deps, [1, 2, 3].map((uid) => ({ userId: 7, event: flags(uid) })));
    for (const s of sent) s.answer();
    await expect(publishing).resolves.toBeUndefined();
    expect(warnings).toEqual([{ event: 'mailbox.publish_failed', userId: 7, type: 'message.flags', failed: 2, err: 'lost 2' }]);
  });

  it('takes a publisher that throws before returning its promise like one that rejects: logged, the others still sent', async () => {
    const { deps, sent, warnings } = slowDeps();
    const slow = deps.events.publish;
    deps.events = {
      publish: (userId, event) => {
        if ((event as { uid: number }).uid === 1) throw new Error('not connected');
        return slow(userId, event);
      },
    };
    const publishing = publishMailboxEvents(deps, [1, 2].map((uid) => ({ userId: 7, event: flags(uid) })));
    expect(sent.map((s) => s.uid)).toEqual([2]);
    sent[0]!.answer();
    await expect(publishing).resolves.toBeUndefined();
    expect(warnings).toEqual([{ event: 'mailbox.publish_failed', userId: 7, type: 'message.flags', failed: 1, err: 'not connected' }]);
  });
});
