import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import type { SpecialUse } from '../db/schema.js';
import { AppError } from '../errors.js';
import { createMailboxRepository } from '../repositories/mailbox.repository.js';
import {
  copyMessages,
  createMailbox,
  deleteMailbox,
  deleteMessages,
  emptyMailbox,
  expungeMessages,
  ingestMessage,
  moveMessages,
  purgeTrash,
  setFlags,
  writeMailboxes,
  type MessageOpsDeps,
} from './mailbox-writer/index.js';
import { summarizeMessage } from './parse.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

/**
 * Quota usage (users.used_bytes) is kept by the mailbox writer in the same transaction as every
 * change: after each operation it equals the sum of the sizes of the user's message rows. The
 * writer refuses a user's own additions that do not fit; filing accepted mail never fails.
 */

let store: TestStore;
let deps: MessageOpsDeps;
let alice: number;
let bob: number;
let seq = 0;

function raw(extra = ''): Buffer {
  seq++;
  return Buffer.from(`From: s@remote.test\r\nTo: alice@q.test\r\nSubject: m${seq}\r\nMessage-ID: <q${seq}@remote.test>\r\n\r\nbody ${seq} ${extra}\r\n`);
}

async function deliver(userId: number, mailbox: { specialUse: SpecialUse } | { id: number } = { specialUse: '\\Inbox' }, body = '') {
  const bytes = raw(body);
  return ingestMessage(deps, { userId, mailbox, content: { raw: bytes }, summary: await summarizeMessage(bytes), traceHeaders: 'Received: from x\r\n' });
}

async function usedBytes(userId: number): Promise<number> {
  return (await store.db.selectFrom('users').select('used_bytes').where('id', '=', userId).executeTakeFirstOrThrow()).used_bytes;
}

/** The usage counter equals a recount of the user's message sizes; returns it. */
async function expectUsageMatchesRows(userId: number): Promise<number> {
  const { rows } = await sql<{ bytes: number }>`SELECT COALESCE(sum(size), 0)::bigint AS bytes FROM messages WHERE user_id = ${userId}`.execute(store.db);
  const used = await usedBytes(userId);
  expect(used).toBe(rows[0]!.bytes);
  return used;
}

async function setQuota(userId: number, quotaBytes: number | null): Promise<void> {
  await store.db.updateTable('users').set({ quota_bytes: quotaBytes }).where('id', '=', userId).execute();
}

async function mailboxId(userId: number, specialUse: SpecialUse): Promise<number> {
  return (await createMailboxRepository(store.db).findSpecial(userId, specialUse))!.id;
}

beforeAll(async () => {
  store = await createTestStore();
  deps = { db: store.db, events: { publish: async () => undefined } };
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('q.test');
  alice = (await accounts.addUser({ address: 'alice@q.test', password: 'correct horse' })).id;
  bob = (await accounts.addUser({ address: 'bob@q.test', password: 'correct horse' })).id;
});
afterAll(async () => {
  await store.drop();
});

describe('quota usage', () => {
  it('equals the sum of the sizes of the user’s messages after append, copy, move, flags, expunge, delete, empty, purge and folder deletion', async () => {
    expect(await expectUsageMatchesRows(alice)).toBe(0);
    const a = await deliver(alice);
    const b = await deliver(alice, undefined, 'x'.repeat(500));
    const c = await deliver(alice);
    const afterAppend = await expectUsageMatchesRows(alice);
    expect(afterAppend).toBeGreaterThan(500);

    // A copy counts in full for its owner, though its bytes are shared.
    const archive = await mailboxId(alice, '\\Archive');
    const copied = await copyMessages(deps, alice, [b.messageId], archive);
    const afterCopy = await expectUsageMatchesRows(alice);
    const sizeOfB = afterCopy - afterAppend;
    expect(sizeOfB).toBeGreaterThan(500);

    // Moves and flags change nothing.
    await moveMessages(deps, alice, [a.messageId], archive);
    await setFlags(deps, alice, [a.messageId, c.messageId], { add: ['\\Seen', '\\Deleted'] });
    expect(await expectUsageMatchesRows(alice)).toBe(afterCopy);

    // Expunge removes the \Deleted ones of one mailbox.
    await expungeMessages(deps, alice, await mailboxId(alice, '\\Inbox'));
    const afterExpunge = await expectUsageMatchesRows(alice);
    expect(afterExpunge).toBeLessThan(afterCopy);

    await deleteMessages(deps, alice, [copied.copied[0]!.id]);
    expect(await expectUsageMatchesRows(alice)).toBe(afterExpunge - sizeOfB);

    // Emptying Trash, the Trash purge, and deleting a folder with its mail.
    const trash = await mailboxId(alice, '\\Trash');
    await deliver(alice, { id: trash });
    await deliver(alice, { id: trash });
    await emptyMailbox(deps, alice, trash);
    const old = await deliver(alice, { id: trash });
    await store.db.updateTable('messages').set({ moved_at: new Date('2000-01-01T00:00:00Z') }).where('id', '=', old.messageId).execute();
    const beforePurge = await expectUsageMatchesRows(alice);
    expect((await purgeTrash(deps, new Date('2001-01-01T00:00:00Z'))).messages).toBe(1);
    const afterPurge = await expectUsageMatchesRows(alice);
    expect(afterPurge).toBeLessThan(beforePurge);
    const folder = await createMailbox(deps, alice, 'Projects');
    await deliver(alice, { id: folder.id }, 'y'.repeat(300));
    expect(await expectUsageMatchesRows(alice)).toBeGreaterThan(afterPurge + 300);
    await deleteMailbox(deps, alice, folder.id);
    expect(await expectUsageMatchesRows(alice)).toBe(afterPurge);

    // Another user's usage is their own.
    await deliver(bob);
    await expectUsageMatchesRows(bob);
    await expectUsageMatchesRows(alice);
  });

  it('rolls back with the write it belongs to', async () => {
    const before = await expectUsageMatchesRows(alice);
    const bytes = raw();
    const summary = await summarizeMessage(bytes);
    await expect(
      writeMailboxes(deps, [alice], async (w) => {
        await w.append(alice, [{ mailbox: { specialUse: '\\Inbox' }, content: { raw: bytes }, summary }]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await expectUsageMatchesRows(alice)).toBe(before);
  });
});

describe('quota enforcement in the mailbox writer', () => {
  it('refuses a user’s own append or copy that does not fit (413 quota.exceeded), and still files delivered mail', async () => {
    const used = await expectUsageMatchesRows(alice);
    const bytes = raw();
    const summary = await summarizeMessage(bytes);
    const ownAppend = () => writeMailboxes(deps, [alice], (w) => w.append(alice, [{ mailbox: { specialUse: '\\Drafts' }, content: { raw: bytes }, summary }], { enforceQuota: true }));

    // Room for exactly this message: accepted.
    await setQuota(alice, used + bytes.length);
    await ownAppend();
    expect(await expectUsageMatchesRows(alice)).toBe(used + bytes.length);

    // At the quota: refused with the stable code, nothing written.
    const err = await ownAppend().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'quota.exceeded', status: 413 });
    expect(await usedBytes(alice)).toBe(used + bytes.length);
    const inbox = await mailboxId(alice, '\\Inbox');
    const any = await store.db.selectFrom('messages').select('id').where('user_id', '=', alice).where('mailbox_id', '=', inbox).executeTakeFirstOrThrow();
    await expect(copyMessages(deps, alice, [any.id], await mailboxId(alice, '\\Archive'))).rejects.toMatchObject({ code: 'quota.exceeded' });

    // Mail accepted for delivery is filed anyway, going over.
    await deliver(alice);
    expect(await expectUsageMatchesRows(alice)).toBeGreaterThan(used + bytes.length);

    // No quota, no limit.
    await setQuota(alice, null);
    await ownAppend();
    await expectUsageMatchesRows(alice);
  });
});
