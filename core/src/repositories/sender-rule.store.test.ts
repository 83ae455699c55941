import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingDb, createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';
import { createSenderRuleRepository, normalizeSenderPattern, senderPatternsFor } from './sender-rule.repository.js';

let store: TestStore;
let accounts: ReturnType<typeof createAccountsService>;
let n = 0;

async function newUser(): Promise<number> {
  n++;
  return (await accounts.addUser({ address: `rules${n}@r.test`, password: 'a long password' })).id;
}

beforeAll(async () => {
  store = await createTestStore();
  accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('r.test');
});
afterAll(async () => {
  await store.drop();
});

describe('sender patterns', () => {
  it('normalizes addresses and domains and refuses anything else', () => {
    expect(normalizeSenderPattern('  Ann@Example.COM ')).toBe('ann@example.com');
    expect(normalizeSenderPattern('Example.com.')).toBe('example.com');
    expect(normalizeSenderPattern('sub.example.co.uk')).toBe('sub.example.co.uk');
    for (const bad of ['', 'ann@', '@example.com', 'no spaces@example.com', 'localhost', 'a@b', 'exa mple.com', 'a@@example.com']) {
      expect(normalizeSenderPattern(bad)).toBeNull();
    }
  });

  it('lists the patterns that match a sender, most specific first', () => {
    expect(senderPatternsFor('Bob@Mail.Example.com')).toEqual(['bob@mail.example.com', 'mail.example.com', 'example.com', 'com']);
    expect(senderPatternsFor('')).toEqual([]);
    expect(senderPatternsFor('nobody')).toEqual([]);
  });
});

describe('the sender rule repository', () => {
  it('keeps one entry per pattern, switching its kind, and lists newest first', async () => {
    const user = await newUser();
    const rules = createSenderRuleRepository(store.db);
    const first = await rules.upsert(user, 'block', 'spam.test');
    await rules.upsert(user, 'allow', 'friend@spam.test');
    const switched = await rules.upsert(user, 'allow', 'spam.test');
    expect(switched.id).toBe(first.id);
    expect((await rules.list(user)).map((r) => [r.kind, r.pattern])).toEqual([
      ['allow', 'friend@spam.test'],
      ['allow', 'spam.test'],
    ]);
  });

  it('decides by the most specific entry, per user, and never across users', async () => {
    const [a, b, c] = [await newUser(), await newUser(), await newUser()];
    const rules = createSenderRuleRepository(store.db);
    await rules.upsert(a, 'block', 'example.net');
    await rules.upsert(a, 'allow', 'news.example.net');
    await rules.upsert(b, 'allow', 'example.net');
    await rules.upsert(b, 'block', 'boss@news.example.net');
    const decided = await rules.decide([a, b, c], 'Boss@News.Example.net');
    expect(decided.get(a)).toBe('allow');
    expect(decided.get(b)).toBe('block');
    expect(decided.has(c)).toBe(false);
    expect((await rules.decide([a], 'x@other.example.net')).get(a)).toBe('block');
    expect((await rules.decide([a, b], '')).size).toBe(0);
  });

  it('answers many (users, sender) questions in ONE statement, each as decide would, never mixing questions', async () => {
    const [a, b, c] = [await newUser(), await newUser(), await newUser()];
    const rules = createSenderRuleRepository(store.db);
    await rules.upsert(a, 'block', 'one.test');
    await rules.upsert(a, 'allow', 'x@two.test');
    await rules.upsert(b, 'allow', 'one.test');
    await rules.upsert(c, 'block', 'two.test');
    const questions = [
      { userIds: [a, b], sender: 'x@one.test' },
      { userIds: [a, c], sender: 'X@two.test' },
      { userIds: [b], sender: 'x@two.test' }, // c's entry for two.test must not leak into b's answer
      { userIds: [a, b, c], sender: '' },
    ];
    const counted = countingDb(store.db);
    const answers = await createSenderRuleRepository(counted.db).decideMany(questions);
    expect(counted.count()).toBe(1);
    expect(answers.map((m) => Object.fromEntries(m))).toEqual([{ [a]: 'block', [b]: 'allow' }, { [a]: 'allow', [c]: 'block' }, {}, {}]);
    for (const [i, q] of questions.entries()) expect(await rules.decide(q.userIds, q.sender)).toEqual(answers[i]);
  });

  it('removes only the owner\'s entries', async () => {
    const [a, b] = [await newUser(), await newUser()];
    const rules = createSenderRuleRepository(store.db);
    const entry = await rules.upsert(a, 'block', 'gone.test');
    expect(await rules.remove(b, entry.id)).toBe(false);
    expect(await rules.remove(a, entry.id)).toBe(true);
    expect(await rules.remove(a, entry.id)).toBe(false);
    expect(await rules.list(a)).toEqual([]);
  });
});
