import { beforeAll, describe, expect, it } from 'vitest';
import { useEmptyDatabase } from '../../../../tests/helpers/migration-db.js';
import { createAccountsService } from '../../accounts/accounts.service.js';
import { createMailbox, deleteMailbox, renameMailbox } from '../../mail/mailbox-writer/index.js';
import { createImapRepository } from '../../repositories/imap.repository.js';
import { createMailboxRepository } from '../../repositories/mailbox.repository.js';
import type { Db } from '../client.js';
import { migrateToLatest } from '../migrate.js';
import { testSecrets } from '../../../../tests/helpers/secrets.js';

const empty = useEmptyDatabase();
let db: Db;
beforeAll(() => {
  db = empty.db;
});

const events = { publish: async () => undefined };

describe('migration 0012_imap_state', () => {
  it('subscribes the folders that were subscribed and new folders, follows renames, keeps a deleted folder subscribed, and starts \\Recent after the existing mail', async () => {
    await empty.migrateTo('0011_alias_allow_send');
    const accounts = createAccountsService({ db, secrets: testSecrets });
    await accounts.addDomain('subs.test');
    const old = await accounts.addUser({ address: 'old@subs.test', password: 'old password' });
    const oldFolders = (await createMailboxRepository(db).list(old.id)).map((m) => m.name).sort();
    await db.insertInto('mailboxes').values([{ user_id: old.id, name: 'Projects', uidvalidity: 7 }, { user_id: old.id, name: 'Hidden', uidvalidity: 8, subscribed: false }]).execute();

    expect(await migrateToLatest(db)).toContain('0012_imap_state');
    const subs = createImapRepository(db);
    expect(await subs.listSubscriptions(old.id)).toEqual([...oldFolders, 'Projects'].sort());

    // A new user's default folders, and a folder made through the writer, start subscribed.
    const fresh = await accounts.addUser({ address: 'new@subs.test', password: 'new password' });
    expect(await subs.listSubscriptions(fresh.id)).toEqual((await createMailboxRepository(db).list(fresh.id)).map((m) => m.name).sort());
    const made = await createMailbox({ db, events }, fresh.id, 'Receipts');
    expect(await subs.listSubscriptions(fresh.id)).toContain('Receipts');

    // A rename carries the subscription; an unsubscribed folder stays unsubscribed when renamed.
    await renameMailbox({ db, events }, fresh.id, made.id, 'Bills');
    expect(await subs.listSubscriptions(fresh.id)).toContain('Bills');
    expect(await subs.listSubscriptions(fresh.id)).not.toContain('Receipts');
    expect(await subs.unsubscribe(fresh.id, 'Bills')).toBe(true);
    expect(await subs.unsubscribe(fresh.id, 'Bills')).toBe(false);
    await renameMailbox({ db, events }, fresh.id, made.id, 'Invoices');
    expect(await subs.listSubscriptions(fresh.id)).not.toContain('Invoices');

    // \Recent: nothing in the folders that existed is recent; a new folder's mail will be; a claim only moves up.
    const oldInbox = (await createMailboxRepository(db).findByName(old.id, 'INBOX'))!;
    expect((await subs.recent(old.id, oldInbox.id)).firstUid).toBe(oldInbox.uidnext);
    const freshInbox = (await createMailboxRepository(db).findByName(fresh.id, 'INBOX'))!;
    expect(await subs.recent(fresh.id, freshInbox.id)).toEqual({ firstUid: 1, count: 0 });
    expect(await subs.claimRecent(fresh.id, freshInbox.id, 5)).toBe(1);
    expect(await subs.claimRecent(fresh.id, freshInbox.id, 3)).toBe(5);
    expect((await subs.recent(fresh.id, freshInbox.id)).firstUid).toBe(5);
    expect((await subs.recent(old.id, freshInbox.id)).firstUid).toBe(1); // another user's mailbox: nothing to read

    // Deleting a folder keeps its name subscribed (RFC 3501 6.3.6); another user's list is apart.
    await subs.subscribe(fresh.id, 'Invoices');
    await deleteMailbox({ db, events }, fresh.id, made.id);
    expect(await subs.listSubscriptions(fresh.id)).toContain('Invoices');
    expect(await subs.listSubscriptions(old.id)).not.toContain('Invoices');
  });
});
