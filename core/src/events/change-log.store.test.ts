import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import type { ChangeKind } from '../db/schema.js';
import { createChangeRepository } from '../repositories/change.repository.js';
import { changeRowsToEvents, EVENT_CHANGE_KINDS, toChangeRow, type ChangeLogEvent } from './change-log.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let alice: number;
let bob: number;

const events: ChangeLogEvent[] = [
  { type: 'message.new', modseq: 1, mailboxId: 10, messageId: 100, uid: 1, threadId: 55 },
  { type: 'message.flags', modseq: 2, mailboxId: 10, messageId: 100, uid: 1, flags: ['\\Seen', '\\Flagged'] },
  { type: 'message.moved', modseq: 4, messageId: 100, fromMailboxId: 10, fromUid: 1, mailboxId: 11, uid: 7 },
  { type: 'message.deleted', modseq: 6, mailboxId: 11, messageId: 100, uid: 7 },
  { type: 'mailbox.created', modseq: 8, mailboxId: 12, name: 'Projects', uidvalidity: 1_700_000_000 },
  { type: 'mailbox.renamed', modseq: 9, mailboxId: 12, name: 'Projects 2026', from: 'Projects' },
  { type: 'mailbox.deleted', modseq: 10, mailboxId: 12, name: 'Projects 2026', uidvalidity: 1_700_000_000 },
];

async function insertRaw(userId: number, modseq: number, kind: ChangeKind, payload: Record<string, unknown>, ids: { mailbox?: number | null; message?: number | null; uid?: number | null } = {}) {
  await store.db
    .insertInto('changes')
    .values({ user_id: userId, modseq, kind, mailbox_id: ids.mailbox ?? 10, message_id: ids.message ?? 100, uid: ids.uid ?? 1, payload: JSON.stringify(payload) })
    .execute();
}

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('log.test');
  alice = (await accounts.addUser({ address: 'alice@log.test', password: 'alice password' })).id;
  bob = (await accounts.addUser({ address: 'bob@log.test', password: 'bob password' })).id;
  for (const e of events) await store.db.insertInto('changes').values(toChangeRow(alice, e)).execute();
  // Rows a writer got wrong: a folder without its uidvalidity, no threadId, flags not a list.
  await insertRaw(alice, 3, 'mailbox.created', { name: 'Projects' }, { mailbox: 11, message: null, uid: null });
  await insertRaw(alice, 5, 'message.new', {});
  await insertRaw(alice, 7, 'message.flags', { flags: 'seen' });
  await store.db.insertInto('changes').values(toChangeRow(bob, { type: 'message.new', modseq: 1, mailboxId: 20, messageId: 200, uid: 1, threadId: 9 })).execute();
});

/** The log as the change feed reads it: the rows of event kinds after `after`, as events. */
async function readChangesSince(userId: number, after: number, limit: number): Promise<ChangeLogEvent[]> {
  return changeRowsToEvents(userId, await createChangeRepository(store.db).readSince(userId, after, { kinds: EVENT_CHANGE_KINDS, limit }));
}
const countChangesSince = (userId: number, after: number, cap: number) => createChangeRepository(store.db).countSince(userId, after, { kinds: EVENT_CHANGE_KINDS, cap });

afterAll(async () => {
  await store?.drop();
});

describe('the change log as events', () => {
  it('reads back every kind as the same event that was written, in modseq order', async () => {
    expect(await readChangesSince(alice, 0, 100)).toEqual(events);
  });

  it('returns only changes after the given modseq, and only the owner’s', async () => {
    expect((await readChangesSince(alice, 2, 100)).map((e) => e.modseq)).toEqual([4, 6, 8, 9, 10]);
    expect(await readChangesSince(bob, 0, 100)).toEqual([{ type: 'message.new', modseq: 1, mailboxId: 20, messageId: 200, uid: 1, threadId: 9 }]);
  });

  it('skips rows that do not make a valid event', async () => {
    const modseqs = (await readChangesSince(alice, 0, 100)).map((e) => e.modseq);
    expect(modseqs).not.toContain(3);
    expect(modseqs).not.toContain(5);
    expect(modseqs).not.toContain(7);
  });

  it('reads at most `limit` rows', async () => {
    expect((await readChangesSince(alice, 0, 2)).map((e) => e.modseq)).toEqual([1, 2]);
  });

  it('counts the rows that make events after a modseq, no further than the cap', async () => {
    // 1–10 all make events (3, 5 and 7 are invalid but counted: they hold a place).
    expect(await countChangesSince(alice, 0, 100)).toBe(10);
    expect(await countChangesSince(alice, 4, 100)).toBe(6);
    expect(await countChangesSince(alice, 0, 4)).toBe(4);
    expect(await countChangesSince(bob, 1, 100)).toBe(0);
  });

  it("reads the user's current modseq, 0 for no such user", async () => {
    await store.db.updateTable('users').set({ modseq: 10 }).where('id', '=', alice).execute();
    expect(await createChangeRepository(store.db).currentModseq(alice)).toBe(10);
    expect(await createChangeRepository(store.db).currentModseq(2 ** 40)).toBe(0);
  });
});
