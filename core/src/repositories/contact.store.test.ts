import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeMail, deliverCorpus } from '../../../tests/helpers/multilingual-mail.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { ingestMessage } from '../mail/mailbox-writer/index.js';
import { summarizeMessage } from '../mail/parse.js';
import { createContactRepository } from './contact.repository.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let accounts: ReturnType<typeof createAccountsService>;
let n = 0;

async function newUser(): Promise<{ id: number; address: string }> {
  n++;
  return accounts.addUser({ address: `user${n}@c.test`, password: 'a long password' });
}

async function contactsOf(userId: number) {
  const rows = await store.db.selectFrom('contacts').selectAll().where('user_id', '=', userId).orderBy('address').execute();
  return rows.map((r) => ({ address: r.address, name: r.name, sent: r.sent_count, received: r.received_count }));
}

beforeAll(async () => {
  store = await createTestStore();
  accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('c.test');
});
afterAll(async () => {
  await store.drop();
});

describe('recording contacts', () => {
  it('records the senders of mail filed into the Inbox only: not Junk, Trash, Archive, Sent or other folders, and not Cc', async () => {
    const user = await newUser();
    await deliverCorpus(store.db, user);
    expect(await contactsOf(user.id)).toEqual([
      { address: 'amelie@exemple.fr', name: 'Amélie Dubois', sent: 0, received: 1 },
      { address: 'bot@party.test', name: 'Party Bot', sent: 0, received: 1 },
      { address: 'colleague@corp.test', name: 'Colleague', sent: 0, received: 1 },
      { address: 'finance@corp.test', name: 'Finance', sent: 0, received: 1 },
      { address: 'ivan@primer.ru', name: 'Иван Петров', sent: 0, received: 1 },
      // Three messages from Jürgen, but only one was filed into the Inbox.
      { address: 'juergen@beispiel.de', name: 'Jürgen Müller', sent: 0, received: 1 },
      { address: 'tanaka@rei.jp', name: '田中 太郎', sent: 0, received: 1 },
    ]);
  });

  it('never records the user\'s own address or one of their aliases', async () => {
    const user = await newUser();
    await accounts.addAlias(`alias${n}@c.test`, user.address);
    for (const from of [`Me <${user.address}>`, `Me <${user.address.toUpperCase()}>`, `Alias <alias${n}@c.test>`]) {
      const raw = await composeMail({ from, to: user.address, subject: 'note to self', text: 'x' });
      await ingestMessage({ db: store.db, events: { publish: async () => undefined } }, { userId: user.id, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) });
    }
    const contacts = createContactRepository(store.db);
    await contacts.recordSent(user.id, [{ name: 'Me', address: user.address }, { name: '', address: `alias${n}@c.test` }]);
    expect(await contactsOf(user.id)).toEqual([]);
  });

  it('counts each message once per address, and keeps the latest non-empty name', async () => {
    const user = await newUser();
    const contacts = createContactRepository(store.db);
    await contacts.recordReceived(user.id, [{ name: 'Jürgen Müller', address: 'Juergen@Beispiel.de' }]);
    await contacts.recordReceived(user.id, [{ name: '', address: 'juergen@beispiel.de' }]);
    expect(await contactsOf(user.id)).toEqual([{ address: 'juergen@beispiel.de', name: 'Jürgen Müller', sent: 0, received: 2 }]);
    // The same address twice in one message (To and Cc): one count, the non-empty name.
    await contacts.recordSent(user.id, [{ name: 'J. Müller', address: 'juergen@beispiel.de' }, { name: '', address: 'JUERGEN@beispiel.de' }]);
    expect(await contactsOf(user.id)).toEqual([{ address: 'juergen@beispiel.de', name: 'J. Müller', sent: 1, received: 2 }]);
  });

  it('skips entries that are not addresses', async () => {
    const user = await newUser();
    await createContactRepository(store.db).recordSent(user.id, [{ name: 'Undisclosed recipients', address: '' }, { name: 'x', address: 'no-at-sign' }, { name: 'y', address: 'two words@x.test' }]);
    expect(await contactsOf(user.id)).toEqual([]);
  });
});

describe('suggest', () => {
  it('ranks by twice the sent count plus the received count, then by the most recent', async () => {
    const user = await newUser();
    const contacts = createContactRepository(store.db);
    const rec = async (address: string, times: number) => {
      for (let i = 0; i < times; i++) await contacts.recordReceived(user.id, [{ name: '', address }]);
    };
    const sent = async (address: string, times: number) => {
      for (let i = 0; i < times; i++) await contacts.recordSent(user.id, [{ name: '', address }]);
    };
    await sent('written-twice@x.test', 2); // score 4
    await rec('heard-thrice@x.test', 3); // score 3
    // Equal scores: the more recent first, although its address sorts last.
    await sent('a-older-two@x.test', 1); // score 2, older
    await rec('z-newer-two@x.test', 2); // score 2, newer
    await rec('once@x.test', 1); // score 1
    const list = await contacts.suggest(user.id, '', 10);
    expect(list.map((c) => c.address)).toEqual(['written-twice@x.test', 'heard-thrice@x.test', 'z-newer-two@x.test', 'a-older-two@x.test', 'once@x.test']);
    expect(list[0]).toMatchObject({ sentCount: 2, receivedCount: 0 });
    expect((await contacts.suggest(user.id, '', 2)).map((c) => c.address)).toEqual(['written-twice@x.test', 'heard-thrice@x.test']);
  });

  it('matches the start of the address or of any word of the name, in any case and script', async () => {
    const user = await newUser();
    await deliverCorpus(store.db, user);
    const contacts = createContactRepository(store.db);
    const find = async (prefix: string) => (await contacts.suggest(user.id, prefix, 10)).map((c) => c.address).sort();
    expect(await find('JUER')).toEqual(['juergen@beispiel.de']);
    expect(await find('mü')).toEqual(['juergen@beispiel.de']); // Müller, second word of the name
    expect(await find('MÜLLER')).toEqual(['juergen@beispiel.de']);
    expect(await find('jürgen')).toEqual(['juergen@beispiel.de']);
    expect(await find('иван')).toEqual(['ivan@primer.ru']);
    expect(await find('петр')).toEqual(['ivan@primer.ru']);
    expect(await find('amé')).toEqual(['amelie@exemple.fr']);
    expect(await find('dubois')).toEqual(['amelie@exemple.fr']);
    expect(await find('太郎')).toEqual(['tanaka@rei.jp']);
    expect(await find('co')).toEqual(['colleague@corp.test']);
    // Not a substring in the middle, and LIKE wildcards are literal.
    expect(await find('eller')).toEqual([]);
    expect(await find('%')).toEqual([]);
    expect(await find('_')).toEqual([]);
  });

  it('never returns another user\'s contacts', async () => {
    const owner = await newUser();
    const other = await newUser();
    await createContactRepository(store.db).recordSent(owner.id, [{ name: 'Private Person', address: 'private@x.test' }]);
    const contacts = createContactRepository(store.db);
    expect(await contacts.suggest(other.id, 'priv', 10)).toEqual([]);
    expect(await contacts.suggest(other.id, '', 10)).toEqual([]);
    expect((await contacts.suggest(owner.id, 'priv', 10)).map((c) => c.address)).toEqual(['private@x.test']);
  });
});
