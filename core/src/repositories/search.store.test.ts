import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORPUS, deliverCorpus } from '../../../tests/helpers/multilingual-mail.js';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { AppError } from '../errors.js';
import { ingestMessage } from '../mail/mailbox-writer/index.js';
import { summarizeMessage } from '../mail/parse.js';
import { parseSearchQuery } from '../mail/search-query.js';
import { createSearchRepository } from './search.repository.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
let alice: { id: number; address: string };
let bob: { id: number; address: string };
let aliceIds: Record<string, number>;
let bobIds: Record<string, number>;
/** message id -> corpus key (either user). */
const keyOf = new Map<number, string>();

async function deliver(userId: number, subject: string, body: string, date: Date): Promise<number> {
  const raw = Buffer.from(`From: News <news@list.test>\r\nTo: alice@a.test\r\nSubject: ${subject}\r\n\r\n${body}\r\n`);
  const r = await ingestMessage({ db: store.db, events: { publish: async () => undefined } }, { userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw), internalDate: date });
  return r.messageId;
}

/** Every page of a search, as message ids in result order. */
async function searchIds(userId: number, q: string, limit = 50): Promise<number[]> {
  const repo = createSearchRepository(store.db);
  const parsed = parseSearchQuery(q);
  const ids: number[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await repo.search(userId, parsed, { limit, cursor });
    ids.push(...page.messages.map((m) => m.id));
    if (!page.nextCursor) return ids;
    cursor = page.nextCursor;
  }
  throw new Error('pagination did not end');
}

/** The corpus keys a search returns (other messages dropped), in result order. */
async function find(q: string, user = alice): Promise<string[]> {
  return (await searchIds(user.id, q)).map((id) => keyOf.get(id)).filter((k): k is string => k !== undefined);
}
const sorted = async (q: string, user = alice) => (await find(q, user)).sort();

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('a.test');
  alice = await accounts.addUser({ address: 'alice@a.test', password: 'alice password' });
  bob = await accounts.addUser({ address: 'bob@a.test', password: 'bob password' });
  aliceIds = await deliverCorpus(store.db, alice);
  // Bob gets the very same German and Russian mail (identical words), and no folder named Geheim.
  bobIds = await deliverCorpus(store.db, bob, CORPUS.filter((m) => m.key === 'de' || m.key === 'ru'));
  for (const [key, id] of Object.entries(aliceIds)) keyOf.set(id, key);
  for (const [key, id] of Object.entries(bobIds)) keyOf.set(id, `bob:${key}`);
});
afterAll(async () => {
  await store.drop();
});

describe('free text', () => {
  it('finds German, French, Russian, Greek and Japanese words in subject and body, in any case', async () => {
    expect(await find('münchen')).toEqual(['de']);
    expect(await find('MÜNCHEN')).toEqual(['de']);
    expect(await find('straße')).toEqual(['de']);
    expect(await find('überraschung')).toEqual(['de']); // written ÜBERRASCHUNG
    expect(await sorted('café')).toEqual(['de', 'fr']); // Café and café
    expect(await find('délicieux')).toEqual(['fr']);
    expect(await find('élodie')).toEqual(['fr']);
    expect(await find('привет')).toEqual(['ru']); // Привет in the subject, ПРИВЕТ in the body
    expect(await find('ПРИВЕТ')).toEqual(['ru']);
    expect(await find('москвы')).toEqual(['ru']);
    expect(await find('Καλημέρα')).toEqual(['el']);
    expect(await find('αθήνα')).toEqual(['el']);
    expect(await find('東京')).toEqual(['ja']);
    expect(await find('タワー')).toEqual(['ja']);
  });

  it('finds names and addresses of the people on a message, and attachment names', async () => {
    expect(await find('Петров')).toEqual(['ru']);
    expect(await sorted('amelie@exemple.fr')).toEqual(['fr']);
    expect(await find('議事録')).toEqual(['ja']);
    expect(await find('rechnung')).toEqual(['budget-subject']);
  });

  it('matches the last bare word as a prefix, also the start of a run of CJK text', async () => {
    expect(await find('Münch')).toEqual(['de']);
    expect(await find('москв')).toEqual(['ru']);
    expect(await find('東京タワー')).toEqual(['ja']); // the body has 東京タワーは with no space
    // Only the last word: "Münch" in front of another word must match a whole word.
    expect(await find('Münch grüße')).toEqual([]);
  });

  it('finds an emoji in the subject', async () => {
    expect(await find('🎉')).toEqual(['emoji']);
    expect(await find('🍕 party')).toEqual(['emoji']);
  });

  it('matches a quoted phrase only with its words in order', async () => {
    expect(await find('"aus München"')).toEqual(['de']);
    expect(await find('"München aus"')).toEqual([]);
    expect(await find('"чере collègue"')).toEqual([]);
    expect(await find('"chère collègue"')).toEqual(['fr']);
  });

  it('requires every word (terms are AND-ed)', async () => {
    expect(await find('café paris')).toEqual(['fr']);
    expect(await find('café tokyo')).toEqual([]);
  });
});

describe('operators', () => {
  it('from: matches sender name or address, case-insensitively in any script', async () => {
    expect(await sorted('from:müller')).toEqual(['de', 'secret']);
    expect(await sorted('from:MÜLLER')).toEqual(['de', 'secret']);
    expect(await sorted('from:juergen@beispiel.de')).toEqual(['de', 'secret']);
    expect(await sorted('from:"Jürgen Müller" in:anywhere')).toEqual(['de', 'secret', 'trash']);
    expect(await find('from:иван')).toEqual(['ru']);
    expect(await find('from:@exemple.fr')).toEqual(['fr']);
    // Cc is not From.
    expect(await find('from:ben.arnaud')).toEqual([]);
    // LIKE wildcards in the value are literal characters.
    expect(await find('from:%')).toEqual([]);
    expect(await find('from:_')).toEqual([]);
  });

  it('to: matches To and Cc', async () => {
    expect(await find('to:ben.arnaud@exemple.fr')).toEqual(['fr']);
    expect(await find('to:"Ben Arnaud"')).toEqual(['fr']);
    expect(await find('to:juergen in:sent')).toEqual(['sent']);
  });

  it('to: matches the name of an RFC 5322 group as well as its members', async () => {
    const raw = Buffer.from('From: a@x.test\r\nTo: zirkel: anna@x.test;\r\nCc: unbekannte-empfaenger:;\r\nSubject: Gruppe\r\n\r\nhallo\r\n');
    const carol = await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: 'carol@a.test', password: 'carol password' });
    const r = await ingestMessage({ db: store.db, events: { publish: async () => undefined } }, { userId: carol.id, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) });
    keyOf.set(r.messageId, 'carol:group');
    expect(await find('to:zirkel', carol)).toEqual(['carol:group']);
    expect(await find('to:anna@x.test', carol)).toEqual(['carol:group']);
    expect(await find('to:unbekannte-empfaenger', carol)).toEqual(['carol:group']);
  });

  it('subject: matches words of the subject only', async () => {
    expect(await sorted('budget')).toEqual(['budget-body', 'budget-subject']);
    expect(await find('subject:budget')).toEqual(['budget-subject']);
    expect(await find('subject:"aus München"')).toEqual(['de']);
    expect(await find('subject:straße')).toEqual([]);
    expect(await find('subject:🎉')).toEqual(['emoji']);
  });

  it('has:attachment, is:unread, is:read and is:starred filter on the stored state', async () => {
    expect(await sorted('has:attachment')).toEqual(['budget-subject', 'ja']);
    expect(await sorted('is:starred')).toEqual(['emoji', 'ru']);
    expect(await sorted('is:read')).toEqual(['fr', 'ru', 'sent']);
    expect(await sorted('is:unread')).toEqual(['budget-body', 'budget-subject', 'de', 'el', 'emoji', 'ja', 'secret']);
  });

  it('in: picks a folder by special-use keyword or by name, any case', async () => {
    expect(await find('in:archive')).toEqual(['el']);
    expect(await find('in:sent')).toEqual(['sent']);
    expect(await find('in:Geheim')).toEqual(['secret']);
    expect(await find('in:geheim zugspitze')).toEqual(['secret']);
    expect(await find('in:trash')).toEqual(['trash']);
    expect(await find('in:spam')).toEqual(['junk']);
    expect(await find('in:nosuchfolder')).toEqual([]);
    // LIKE wildcards in a folder name are literal.
    expect(await find('in:Gehei_')).toEqual([]);
    expect(await find('in:%')).toEqual([]);
  });

  it('in: matches a non-Latin folder name in any case', async () => {
    const { plan } = await deliverCorpus(store.db, alice, [{ key: 'plan', folder: { name: 'Проекты' }, date: '2026-01-27T09:00:00Z', mail: { from: 'Иван Петров <ivan@primer.ru>', subject: 'План', text: 'Новый план' } }]);
    for (const q of ['in:Проекты', 'in:проекты', 'in:ПРОЕКТЫ', 'in:"Проекты" план']) expect(await searchIds(alice.id, q), q).toEqual([plan]);
    expect(await searchIds(bob.id, 'in:Проекты')).toEqual([]);
  });

  it('combines several in: and -in: terms as AND', async () => {
    expect(await find('in:inbox -in:inbox')).toEqual([]);
    expect(await find('in:sent in:archive')).toEqual([]);
    expect(await find('in:sent in:SENT')).toEqual(['sent']);
    expect(await find('in:geheim -in:Geheim zugspitze')).toEqual([]);
    expect(await find('-in:inbox -in:archive -in:geheim')).toEqual(['sent']);
    expect(await sorted('münchen in:anywhere -in:trash')).toEqual(['de']);
  });

  it('leaves Trash and Junk out unless in: names them or says in:anywhere', async () => {
    expect(await find('münchen')).toEqual(['de']);
    expect(await sorted('münchen in:anywhere')).toEqual(['de', 'trash']);
    expect(await sorted('budget in:anywhere')).toEqual(['budget-body', 'budget-subject', 'junk']);
  });

  it('before: is exclusive and after: inclusive, on UTC days of the internal date', async () => {
    expect(await sorted('after:2026-01-20 before:2026-01-23')).toEqual(['emoji', 'ja']);
    expect(await sorted('after:2026-01-25')).toEqual(['budget-body', 'secret']);
    expect(await sorted('before:2026-01-10')).toEqual(['budget-subject']); // the Trash one (01-08) is left out
    expect(await find('before:2026-01-10 in:anywhere münchen')).toEqual(['trash']);
  });
});

describe('negation', () => {
  it('excludes messages matching a negated word, phrase or operator', async () => {
    expect(await find('café -paris')).toEqual(['de']);
    expect(await find('café -"à bientôt"')).toEqual(['de']);
    expect(await find('budget -has:attachment')).toEqual(['budget-body']);
    expect(await find('café -from:müller')).toEqual(['fr']);
    expect(await find('grüße -in:sent')).toEqual(['de']);
    expect(await find('grüße -is:unread')).toEqual(['sent']);
    expect(await find('budget -subject:budget')).toEqual(['budget-body']);
    expect(await find('budget -before:2026-01-20')).toEqual(['budget-body']);
    expect(await find('party -🎉')).toEqual([]);
  });
});

describe('ranking and paging', () => {
  it('ranks a subject match above a body match, even when the body match is newer', async () => {
    expect(await find('budget')).toEqual(['budget-subject', 'budget-body']);
  });

  it('orders newest first when there is no free text', async () => {
    expect(await find('from:juergen')).toEqual(['secret', 'de']);
    expect(await find('has:attachment')).toEqual(['ja', 'budget-subject']);
  });

  it('pages ranked and date-ordered results without repeating or skipping, across equal ranks and dates', async () => {
    const base = Date.UTC(2026, 2, 1);
    const created: number[] = [];
    for (let i = 0; i < 23; i++) {
      // Ranks repeat (the word occurs 1 to 3 times) and dates repeat (three per second).
      const body = Array.from({ length: 1 + (i % 3) }, () => 'Zeitung').join(' und ');
      created.push(await deliver(alice.id, `Ausgabe ${i}`, body, new Date(base + Math.floor(i / 3) * 1000)));
    }
    for (const q of ['zeitung', 'from:news@list.test', '"zeitung und zeitung"']) {
      const expected = q.startsWith('"') ? created.filter((_, i) => i % 3 !== 0) : created;
      const all = await searchIds(alice.id, q, 50);
      const paged = await searchIds(alice.id, q, 4);
      expect(paged, q).toEqual(all);
      expect(new Set(paged).size, q).toBe(paged.length);
      expect(new Set(paged), q).toEqual(new Set(expected));
    }
    // More occurrences rank higher: every 3-times message comes before every 1-time message.
    const ranked = await searchIds(alice.id, 'zeitung', 5);
    const lastThree = Math.max(...created.filter((_, i) => i % 3 === 2).map((id) => ranked.indexOf(id)));
    const firstOne = Math.min(...created.filter((_, i) => i % 3 === 0).map((id) => ranked.indexOf(id)));
    expect(lastThree).toBeLessThan(firstOne);
  });

  it('keeps new mail out of the pages still to come in a date-ordered search', async () => {
    const repo = createSearchRepository(store.db);
    const parsed = parseSearchQuery('from:news@list.test');
    const first = await repo.search(alice.id, parsed, { limit: 5 });
    const late = await deliver(alice.id, 'Ausgabe spät', 'Zeitung', new Date(Date.UTC(2026, 5, 1)));
    const seen = first.messages.map((m) => m.id);
    let cursor = first.nextCursor;
    while (cursor) {
      const page = await repo.search(alice.id, parsed, { limit: 5, cursor });
      seen.push(...page.messages.map((m) => m.id));
      cursor = page.nextCursor;
    }
    expect(seen).not.toContain(late);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('ranks only the newest matches of a free-text search, so a common word costs bounded work', async () => {
    const base = Date.UTC(2026, 0, 5);
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await deliver(alice.id, `capword ${i}`, 'capword body', new Date(base + i * 60_000)));
    const repo = createSearchRepository(store.db);
    const page = await repo.search(alice.id, parseSearchQuery('capword'), { limit: 50, rankCandidates: 2 });
    expect(page.messages.map((m) => m.id).sort()).toEqual([ids[2], ids[3]].sort());
    expect((await repo.search(alice.id, parseSearchQuery('capword'), { limit: 50 })).messages).toHaveLength(4);
  });

  it('ranks exactly the newest N matches, whether a walk in date order or the GIN index finds them', async () => {
    // 40 messages, the newest of alice's mail, one minute apart. Each word occurs 1–3 times in some
    // of them: in all, densely, in the newest few and then only much older ones, or only in the
    // oldest, so that each of the repository's ways to find the candidates (walking in date order,
    // walking on, the plain query) is taken. For every N the candidates must be the newest N
    // matches, ranked by occurrences.
    const base = Date.UTC(2027, 0, 1);
    const words = { jedeswort: (i: number) => 1 + (i % 3), dichtwort: (i: number) => (i % 2 === 0 ? 1 + (i % 3) : 0), lueckenwort: (i: number) => ((i >= 36 || i < 16) && i % 4 === 0 ? 1 + (i % 3) : 0), altwort: (i: number) => (i < 6 && i % 2 === 1 ? 1 + (i % 3) : 0) };
    const sent: { id: number; at: number; counts: Record<string, number> }[] = [];
    for (let i = 0; i < 40; i++) {
      const counts = Object.fromEntries(Object.entries(words).map(([w, f]) => [w, f(i)]));
      const body = Object.entries(counts).flatMap(([w, k]) => Array.from({ length: k }, () => w)).join(' und ') || 'nichts';
      const at = base + i * 60_000;
      sent.push({ id: await deliver(alice.id, `Reihe ${i}`, body, new Date(at)), at, counts });
    }
    const repo = createSearchRepository(store.db);
    for (const word of Object.keys(words)) {
      for (const n of [1, 2, 3, 4, 5, 7, 10, 50]) {
        const expected = sent
          .filter((m) => m.counts[word]! > 0)
          .sort((a, b) => b.at - a.at)
          .slice(0, n)
          .sort((a, b) => b.counts[word]! - a.counts[word]! || b.at - a.at)
          .map((m) => m.id);
        const page = await repo.search(alice.id, parseSearchQuery(word), { limit: 50, rankCandidates: n });
        expect(page.messages.map((m) => m.id), `${word}, N=${n}`).toEqual(expected);
      }
    }
  });

  it('rejects a forged cursor, or one from the other ordering, with a 400 AppError', async () => {
    const repo = createSearchRepository(store.db);
    const dated = await repo.search(alice.id, parseSearchQuery('from:news@list.test'), { limit: 1 });
    const ranked = await repo.search(alice.id, parseSearchQuery('zeitung'), { limit: 1 });
    const attempts = [
      repo.search(alice.id, parseSearchQuery('zeitung'), { limit: 5, cursor: '!!!' }),
      repo.search(alice.id, parseSearchQuery('zeitung'), { limit: 5, cursor: dated.nextCursor! }),
      repo.search(alice.id, parseSearchQuery('from:news@list.test'), { limit: 5, cursor: ranked.nextCursor! }),
      repo.search(alice.id, parseSearchQuery('zeitung'), { limit: 5, cursor: Buffer.from('r:NaN:1:1').toString('base64url') }),
    ];
    for (const attempt of attempts) {
      const err = await attempt.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).status).toBe(400);
    }
  });
});

describe('scoping', () => {
  it('never returns another user\'s message, even with identical words', async () => {
    expect(await find('münchen', bob)).toEqual(['bob:de']);
    expect(await find('münchen')).toEqual(['de']);
    expect(await find('привет from:иван', bob)).toEqual(['bob:ru']);
    for (const q of ['zugspitze', 'budget', '東京', 'is:starred', 'has:attachment', 'in:anywhere', '']) {
      const ids = await searchIds(bob.id, q);
      for (const id of ids) expect(Object.values(bobIds), q).toContain(id);
    }
  });

  it('finds nothing for in: a folder name that only another user has', async () => {
    expect(await searchIds(bob.id, 'in:Geheim')).toEqual([]);
    expect(await searchIds(bob.id, 'in:Geheim zugspitze')).toEqual([]);
    expect(await searchIds(bob.id, 'in:anywhere zugspitze')).toEqual([]);
  });
});

describe('hostile input', () => {
  it('answers queries full of tsquery, LIKE and SQL syntax without an error', async () => {
    const nasty = ["'", "''", '\\', "\\'", '&', '|', '!', '(', ')', ':*', 'a:*', '<->', "'a' | 'b'", "x'; DROP TABLE messages;--", '%', '_', '*', 'from:\\', "subject:'", 'to:%_\\', '"\'"', 'in:\'', '-\'', '-!', 'a & b | !c', '\u0000', 'ab\u0000cd'];
    const count = async () => (await store.db.selectFrom('messages').select(store.db.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;
    const before = await count();
    for (const q of nasty) {
      const ids = await searchIds(alice.id, q);
      expect(ids.filter((id) => Object.values(bobIds).includes(id)), q).toEqual([]);
    }
    expect(await count()).toBe(before);
  });
});
