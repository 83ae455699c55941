import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBackend, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { CORPUS, deliverCorpus } from '../../../../tests/helpers/multilingual-mail.js';
import { createContactRepository } from '../../../../core/src/repositories/contact.repository.js';

let t: TestBackend;
let ann: Agent;
let ben: Agent;
let annIds: Record<string, number>;
let benIds: Record<string, number>;

interface ListItem { id: number; mailboxId: number; subject: string; from: Array<{ name: string; address: string }>; unread: boolean; starred: boolean; hasAttachments: boolean; date: string }
interface SearchBody { messages: ListItem[]; nextCursor: string | null }

async function get(agent: Agent, url: string) {
  return t.app.inject({ method: 'GET', url, headers: { cookie: agent.cookie } });
}

async function search(agent: Agent, q: string, extra = ''): Promise<SearchBody> {
  const res = await get(agent, `/api/search?q=${encodeURIComponent(q)}${extra}`);
  expect(res.statusCode, `${q}: ${res.body}`).toBe(200);
  return res.json() as SearchBody;
}

/** Corpus keys of ann's results, in order. */
async function keys(q: string, agent = ann): Promise<string[]> {
  const ids = agent === ann ? annIds : benIds;
  const byId = new Map(Object.entries(ids).map(([k, id]) => [id, k]));
  return (await search(agent, q)).messages.map((m) => byId.get(m.id) ?? `other:${m.id}`);
}

beforeAll(async () => {
  t = await createTestBackend();
  await t.accounts.addDomain('s.test');
  await t.accounts.addUser({ address: 'ann@s.test', password: 'ann password' });
  await t.accounts.addUser({ address: 'ben@s.test', password: 'ben password' });
  ann = await t.login('ann@s.test', 'ann password');
  ben = await t.login('ben@s.test', 'ben password');
  annIds = await deliverCorpus(t.store.db, { id: ann.userId, address: ann.address });
  benIds = await deliverCorpus(t.store.db, { id: ben.userId, address: ben.address }, CORPUS.filter((m) => m.key === 'de' || m.key === 'ru'));
});
afterAll(async () => {
  await t.close();
});

describe('GET /api/search', () => {
  it('returns list items shaped like a mailbox listing', async () => {
    const body = await search(ann, 'привет');
    expect(body.nextCursor).toBeNull();
    expect(body.messages).toEqual([
      {
        id: annIds.ru,
        mailboxId: expect.any(Number),
        threadId: expect.any(Number),
        date: '2026-01-15T09:00:00.000Z',
        from: [{ name: 'Иван Петров', address: 'ivan@primer.ru' }],
        to: [{ name: '', address: 'ann@s.test' }],
        subject: 'Привет из Москвы',
        snippet: 'Встреча в понедельник в десять утра. ПРИВЕТ всей команде!',
        unread: false,
        starred: true,
        hasAttachments: false,
        size: expect.any(Number),
      },
    ]);
  });

  it('supports every operator, in every script of the corpus', async () => {
    const cases: Array<[string, string[]]> = [
      ['MÜNCHEN', ['de']],
      ['"chère collègue"', ['fr']],
      ['москв', ['ru']],
      ['καλημέρα', ['el']],
      ['東京 タワー', ['ja']],
      ['🎉', ['emoji']],
      ['from:müller', ['secret', 'de']],
      ['from:иван', ['ru']],
      ['to:ben.arnaud', ['fr']],
      ['subject:budget', ['budget-subject']],
      ['has:attachment', ['ja', 'budget-subject']],
      ['is:starred', ['emoji', 'ru']],
      ['is:read', ['ru', 'fr', 'sent']],
      ['is:unread before:2026-01-19', ['el', 'de', 'budget-subject']],
      ['in:archive', ['el']],
      ['in:Geheim', ['secret']],
      ['in:trash', ['trash']],
      ['after:2026-01-22 before:2026-01-26', ['budget-body', 'emoji']],
      ['münchen in:anywhere', ['de', 'trash']],
    ];
    for (const [q, expected] of cases) expect(await keys(q), q).toEqual(expected);
  });

  it('excludes what a negated term matches', async () => {
    expect(await keys('café -paris')).toEqual(['de']);
    expect(await keys('budget -has:attachment')).toEqual(['budget-body']);
    expect(await keys('grüße -in:sent')).toEqual(['de']);
    expect(await keys('from:juergen -in:geheim')).toEqual(['de']);
  });

  it('ranks a subject match above a newer body match', async () => {
    expect(await keys('budget')).toEqual(['budget-subject', 'budget-body']);
  });

  it('pages with a cursor without repeating or skipping a message', async () => {
    for (const q of ['in:anywhere', 'in:anywhere budget', 'is:unread']) {
      const all = (await search(ann, q, '&limit=200')).messages.map((m) => m.id);
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const body: SearchBody = await search(ann, q, `&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(body.messages.length).toBeLessThanOrEqual(2);
        seen.push(...body.messages.map((m) => m.id));
        cursor = body.nextCursor;
      } while (cursor);
      expect(seen, q).toEqual(all);
      expect(new Set(seen).size, q).toBe(seen.length);
    }
    expect((await search(ann, 'in:anywhere', '&limit=200')).messages).toHaveLength(Object.keys(annIds).length);
  });

  it('answers a bad query, cursor or limit with 400 and a coded error', async () => {
    const cases: Array<[string, string]> = [
      [`q=${encodeURIComponent('before:2026-02-30')}`, 'search.invalid'],
      [`q=${encodeURIComponent('after:last-week')}`, 'search.invalid'],
      [`q=${encodeURIComponent('from:')}`, 'search.invalid'],
      [`q=${'a'.repeat(501)}`, 'search.invalid'],
      [`q=${Array.from({ length: 51 }, (_, i) => `w${i}`).join('+')}`, 'search.invalid'],
      ['q=budget&cursor=!!!', 'request.invalid'],
      ['q=budget&limit=0', 'request.invalid'],
      ['q=budget&limit=201', 'request.invalid'],
    ];
    for (const [query, code] of cases) {
      const res = await get(ann, `/api/search?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.json(), query).toMatchObject({ error: { code, message: expect.any(String) }, requestId: expect.any(String) });
    }
    const res = await get(ann, `/api/search?q=${encodeURIComponent('before:2026-02-30')}`);
    expect(res.json().error.message).toContain('YYYY-MM-DD');
  });

  it('never returns another user\'s messages, even with identical words', async () => {
    expect(await keys('münchen', ben)).toEqual(['de']);
    expect((await search(ben, 'münchen')).messages.map((m) => m.id)).toEqual([benIds.de]);
    expect((await search(ann, 'münchen')).messages.map((m) => m.id)).toEqual([annIds.de]);
    const benAll = (await search(ben, 'in:anywhere', '&limit=200')).messages.map((m) => m.id).sort();
    expect(benAll).toEqual(Object.values(benIds).sort());
  });

  it('finds nothing in a folder name only another user has', async () => {
    expect((await search(ben, 'in:Geheim')).messages).toEqual([]);
    expect((await search(ben, 'in:Geheim zugspitze')).messages).toEqual([]);
  });

  it('requires a session', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/search?q=budget' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/contacts?q=a' })).statusCode).toBe(401);
  });
});

describe('GET /api/contacts', () => {
  it('suggests people by address or name prefix, in any case, with their counts', async () => {
    const res = await get(ann, `/api/contacts?q=${encodeURIComponent('MÜ')}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ contacts: [{ address: 'juergen@beispiel.de', name: 'Jürgen Müller', sentCount: 0, receivedCount: 1 }] });
    const cyrillic = await get(ann, `/api/contacts?q=${encodeURIComponent('ив')}`);
    expect(cyrillic.json().contacts.map((c: { address: string }) => c.address)).toEqual(['ivan@primer.ru']);
  });

  it('ranks people the user writes to above people they only hear from', async () => {
    await createContactRepository(t.store.db).recordSent(ann.userId, [{ name: 'Amélie Dubois', address: 'amelie@exemple.fr' }]);
    const res = await get(ann, '/api/contacts?limit=3');
    const contacts = res.json().contacts as Array<{ address: string; sentCount: number; receivedCount: number }>;
    expect(contacts).toHaveLength(3);
    expect(contacts[0]).toEqual({ address: 'amelie@exemple.fr', name: 'Amélie Dubois', sentCount: 1, receivedCount: 1 });
  });

  it('never suggests another user\'s contacts', async () => {
    const res = await get(ben, `/api/contacts?q=${encodeURIComponent('amé')}`);
    expect(res.json()).toEqual({ contacts: [] });
    const all = (await get(ben, '/api/contacts?limit=50')).json().contacts.map((c: { address: string }) => c.address).sort();
    expect(all).toEqual(['ivan@primer.ru', 'juergen@beispiel.de']);
  });

  it('rejects a bad limit with 400', async () => {
    for (const limit of ['0', '51', 'x']) expect((await get(ann, `/api/contacts?limit=${limit}`)).statusCode, limit).toBe(400);
  });
});
