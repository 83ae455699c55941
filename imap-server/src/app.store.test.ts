import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService, createImapServices, createRateLimiter, createRedisEventPublisher, createSubscriberRedis, createUserEventHub, ingestMessage, loadTlsMaterial, setFlags, silentLogger, summarizeMessage, type UserEventHub } from '../../core/src/index.js';
import { connectImap, type ImapTranscriptClient } from '../../tests/helpers/imap-transcript.js';
import { allocateRedisUrl } from '../../tests/helpers/redis.js';
import { createTestStore, type TestStore } from '../../tests/helpers/store.js';
import { buildImapApp, type ImapListener } from './app.js';
import { testSecrets } from '../../tests/helpers/secrets.js';

/**
 * The transcript flows on the real store: core's IMAP services over PostgreSQL and Redis, so a
 * change made through the mailbox writer elsewhere reaches an IDLE session through the feed.
 */

let store: TestStore;
let redis: Redis;
let flushRedis: () => Promise<void>;
let hub: UserEventHub;
let app: ImapListener;
let port: number;
let alice: number;
let dataDir: string;
const clients: ImapTranscriptClient[] = [];
const log = silentLogger();

const raw = (n: number) => Buffer.from([`From: Carol <carol@c.test>`, 'To: alice@imap.test', `Subject: Note ${n}`, `Message-ID: <n${n}@c.test>`, 'Date: Mon, 23 Nov 2026 09:00:00 +0000', '', `Text ${n}`, ''].join('\r\n'));

beforeAll(async () => {
  store = await createTestStore();
  await sql`ALTER SEQUENCE users_id_seq RESTART WITH ${sql.lit(randomInt(1_000_000, 2 ** 40))}`.execute(store.db);
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('imap.test');
  alice = (await accounts.addUser({ address: 'alice@imap.test', password: 'alice password' })).id;
  let redisUrl: string;
  ({ url: redisUrl, flush: flushRedis } = await allocateRedisUrl());
  redis = new Redis(redisUrl);
  hub = createUserEventHub({ createSubscriber: () => createSubscriberRedis(redisUrl), log });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imap-store-'));
  const tls = await loadTlsMaterial({ dataDir, hostname: 'imap.imap.test' });
  app = buildImapApp({ db: store.db, events: createRedisEventPublisher(redis), limiter: createRateLimiter(redis), hub, log }, { hostname: 'imap.imap.test', tls, allowPlaintextAuth: true });
  port = (await app.listen({ imap: 0, imaps: 0 }, '127.0.0.1')).imap;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await app?.close();
  hub?.close();
  await flushRedis?.();
  redis?.disconnect();
  await store?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function session(): Promise<ImapTranscriptClient> {
  const client = await connectImap(port);
  clients.push(client);
  await client.greeting();
  expect((await client.command('l LOGIN alice@imap.test "alice password"')).at(-1)).toMatch(/^l OK/);
  return client;
}

const deliver = async (n: number) => ingestMessage({ db: store.db, events: createRedisEventPublisher(redis) }, { userId: alice, mailbox: { specialUse: '\\Inbox' }, content: { raw: raw(n) }, summary: await summarizeMessage(raw(n)) });

describe('IMAP on the real store', () => {
  it('lists, selects, appends, fetches, stores, searches, moves and expunges', async () => {
    await deliver(1);
    const client = await session();
    expect(await client.command('a1 LIST "" "*"')).toContain('* LIST (\\HasNoChildren \\Sent) "/" "Sent"');
    const selected = await client.command('a2 SELECT INBOX');
    expect(selected).toContain('* 1 EXISTS');
    // \Recent: the first session to select the mailbox read-write claims the new mail.
    expect(selected).toContain('* 1 RECENT');
    expect(selected.at(-1)).toBe('a2 OK [READ-WRITE] SELECT completed');
    const message = raw(2);
    client.write(`a3 APPEND INBOX (\\Flagged) {${message.length}+}\r\n${message.toString()}\r\n`);
    const appended = await client.until((l) => l.startsWith('a3 '));
    // Appended to the selected mailbox: its EXISTS comes with the answer.
    expect(appended.slice(0, 2)).toEqual(['* 2 EXISTS', '* 2 RECENT']);
    expect(appended[2]).toMatch(/^a3 OK \[APPENDUID \d+ 2\] APPEND completed$/);
    expect(await client.command('a4 NOOP')).toEqual(['a4 OK NOOP completed']);
    expect(await client.command('a5 UID FETCH 1:* (FLAGS)')).toEqual(['* 1 FETCH (UID 1 FLAGS (\\Recent))', '* 2 FETCH (UID 2 FLAGS (\\Recent \\Flagged))', 'a5 OK UID FETCH completed']);
    expect(await client.command('a5 SEARCH NEW')).toEqual(['* SEARCH 1 2', 'a5 OK SEARCH completed']);
    // Another session sees nothing recent: the first one has claimed it.
    const other = await session();
    expect((await other.command('o1 STATUS INBOX (RECENT)'))[0]).toBe('* STATUS "INBOX" (RECENT 0)');
    expect(await other.command('o2 EXAMINE INBOX')).toContain('* 0 RECENT');
    expect(await other.command('o3 SELECT INBOX')).toContain('* 0 RECENT');
    expect(await other.command('o4 SEARCH RECENT')).toEqual(['* SEARCH', 'o4 OK SEARCH completed']);
    const body = await client.command('a6 UID FETCH 1 (BODY[] ENVELOPE)');
    expect(body[0]).toMatch(/^\* 1 FETCH \(UID 1 FLAGS \(\\Recent \\Seen\) BODY\[\] \{\d+\}$/);
    expect(body).toContain('Text 1');
    expect(await client.command('a7 UID SEARCH UNSEEN SUBJECT "note 2"')).toEqual(['* SEARCH 2', 'a7 OK UID SEARCH completed']);
    expect((await client.command('a8 UID STORE 2 +FLAGS (\\Deleted)'))[0]).toBe('* 2 FETCH (UID 2 FLAGS (\\Recent \\Flagged \\Deleted))');
    expect(await client.command('a9 UID EXPUNGE 2')).toEqual(['* 2 EXPUNGE', 'a9 OK EXPUNGE completed']);
    const moved = await client.command('b1 MOVE 1 Archive');
    expect(moved[0]).toMatch(/^\* OK \[COPYUID \d+ 1 1\] Moved$/);
    expect(moved.slice(1)).toEqual(['* 1 EXPUNGE', 'b1 OK MOVE completed']);
    expect((await client.command('b2 STATUS Archive (MESSAGES UNSEEN)'))[0]).toBe('* STATUS "Archive" (MESSAGES 1 UNSEEN 0)');
  });

  it('sorts by the stored subject and addresses (SORT, UID SORT)', async () => {
    const client = await session();
    expect((await client.command('s1 CREATE Sorting')).at(-1)).toBe('s1 OK CREATE completed');
    const mail = (from: string, subject: string) => Buffer.from([`From: ${from}`, 'To: alice@imap.test', `Subject: ${subject}`, '', 'x', ''].join('\r\n'));
    for (const [i, m] of [mail('Zoë <a@z.test>', 'Re: pear'), mail('Adam <z@a.test>', 'Apple'), mail('m@m.test', '[Fwd: re: Mango]')].entries()) {
      client.write(`s2${i} APPEND Sorting {${m.length}+}\r\n${m.toString()}\r\n`);
      expect((await client.until((l) => l.startsWith(`s2${i} `))).at(-1)).toMatch(/OK \[APPENDUID/);
    }
    await client.command('s3 SELECT Sorting');
    expect(await client.command('s4 SORT (SUBJECT) UTF-8 ALL')).toEqual(['* SORT 2 3 1', 's4 OK SORT completed']);
    expect(await client.command('s5 UID SORT (REVERSE FROM) UTF-8 ALL')).toEqual(['* SORT 2 3 1', 's5 OK UID SORT completed']);
    expect(await client.command('s6 SORT (DISPLAYFROM) UTF-8 ALL')).toEqual(['* SORT 2 3 1', 's6 OK SORT completed']);
  });

  it('searches and sorts an RFC 5322 group by its name (FROM/TO/CC, SORT CC, DISPLAYTO)', async () => {
    const client = await session();
    expect((await client.command('g1 CREATE Groups')).at(-1)).toBe('g1 OK CREATE completed');
    const mail = (to: string, cc: string) => Buffer.from(['From: m@m.test', `To: ${to}`, `Cc: ${cc}`, 'Subject: g', '', 'x', ''].join('\r\n'));
    const messages = [mail('Zed <z@z.test>', 'user2@domain2.org'), mail('crew: k@k.test, l@l.test;', 'user2: blah@domain1.org;'), mail('undisclosed-recipients:;', 'user1@domain1.org')];
    for (const [i, m] of messages.entries()) {
      client.write(`g2${i} APPEND Groups {${m.length}+}\r\n${m.toString()}\r\n`);
      expect((await client.until((l) => l.startsWith(`g2${i} `))).at(-1)).toMatch(/OK \[APPENDUID/);
    }
    await client.command('g3 SELECT Groups');
    expect(await client.command('g4 SEARCH TO crew')).toEqual(['* SEARCH 2', 'g4 OK SEARCH completed']);
    expect(await client.command('g5 SEARCH TO undisclosed-recipients')).toEqual(['* SEARCH 3', 'g5 OK SEARCH completed']);
    expect(await client.command('g6 SEARCH CC user2')).toEqual(['* SEARCH 1 2', 'g6 OK SEARCH completed']);
    expect(await client.command('g7 SEARCH TO k@k.test')).toEqual(['* SEARCH 2', 'g7 OK SEARCH completed']);
    // CC by mailbox: user1 < user2 (message 1) = user2 (message 2, the group), ties by sequence number.
    expect(await client.command('g8 SORT (CC) UTF-8 ALL')).toEqual(['* SORT 3 1 2', 'g8 OK SORT completed']);
    // DISPLAYTO: "crew" < "undisclosed-recipients" < "Zed".
    expect(await client.command('g9 SORT (DISPLAYTO) UTF-8 ALL')).toEqual(['* SORT 2 3 1', 'g9 OK SORT completed']);
  });

  it('serves an IMAP4rev2 session: UTF-8 names, SELECT with LIST and without RECENT, ESEARCH, $ and STATUS DELETED', async () => {
    const utf8 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
    const client = await session();
    expect(await client.command('r0 ENABLE IMAP4rev2')).toEqual(['* ENABLED IMAP4rev2', 'r0 OK ENABLE completed']);
    client.write(Buffer.from('r1 CREATE "Rév2/Été"\r\n', 'utf8'));
    expect(await client.until((l) => l.startsWith('r1 '))).toEqual(['r1 OK CREATE completed']);
    for (const [i, flags] of ['(\\Deleted)', '()'].entries()) {
      const message = raw(20 + i);
      client.write(Buffer.concat([Buffer.from(`r2${i} APPEND "Rév2/Été" ${flags} {${message.length}+}\r\n`, 'utf8'), message, Buffer.from('\r\n')]));
      expect((await client.until((l) => l.startsWith(`r2${i} `))).at(-1)).toMatch(/OK \[APPENDUID \d+ \d\] APPEND completed$/);
    }
    client.write(Buffer.from('r3 SELECT "Rév2/Été"\r\n', 'utf8'));
    const selected = await client.until((l) => l.startsWith('r3 '));
    expect(selected).toContain('* 2 EXISTS');
    expect(selected).toContain(utf8('* LIST (\\HasNoChildren) "/" "Rév2/Été"'));
    expect(selected.filter((l) => / RECENT$|\[UNSEEN /.test(l))).toEqual([]);
    expect(await client.command('r4 LIST "" "R%"')).toEqual([utf8('* LIST (\\NonExistent \\HasChildren) "/" "Rév2"'), 'r4 OK LIST completed']);
    expect(await client.command('r5 UID SEARCH UNDELETED')).toEqual(['* ESEARCH (TAG "r5") UID ALL 2', 'r5 OK UID SEARCH completed']);
    expect(await client.command('r6 SEARCH RETURN (SAVE) DELETED')).toEqual(['r6 OK SEARCH completed']);
    expect(await client.command('r7 UID FETCH $ (FLAGS)')).toEqual(['* 1 FETCH (UID 1 FLAGS (\\Deleted))', 'r7 OK UID FETCH completed']);
    expect(await client.command('r8 UID EXPUNGE $')).toEqual(['* 1 EXPUNGE', 'r8 OK EXPUNGE completed']);
    client.write(Buffer.from('r9 STATUS "Rév2/Été" (MESSAGES DELETED SIZE)\r\n', 'utf8'));
    expect(await client.until((l) => l.startsWith('r9 '))).toEqual([utf8(`* STATUS "Rév2/Été" (MESSAGES 1 DELETED 0 SIZE ${raw(21).length})`), 'r9 OK STATUS completed']);
    // The IMAP4rev2 session claimed nothing: an IMAP4rev1 session still finds the message \Recent.
    const rev1 = await session();
    expect(await rev1.command('v1 SELECT "R&AOk-v2/&AMk-t&AOk-"')).toContain('* 1 RECENT');
  });

  it('shows at a SELECT again what changed elsewhere before the feed said so: flags, expunges, new mail, a folder deleted and made again', async () => {
    // Another IMAP process or the API, whose events have not come yet: the store is all there is.
    const silent = { publish: async () => {} };
    const elsewhere = createImapServices({ db: store.db, events: silent, limiter: createRateLimiter(redis), hub, log });
    await elsewhere.mailboxes.create(alice, 'Reselect');
    const box = (await elsewhere.mailboxes.find(alice, 'Reselect'))!;
    await elsewhere.messages.append(alice, box.id, [1, 2, 3].map((n) => ({ raw: raw(600 + n), flags: [] })));
    const client = await session();
    const first = await client.command('r1 SELECT Reselect');
    expect(first).toContain('* 3 EXISTS');
    const [one, two] = await elsewhere.messages.list(alice, box.id);
    await setFlags({ db: store.db, events: silent }, alice, [two!.id], { add: ['\\Flagged'] });
    await elsewhere.messages.setFlags(alice, [one!.id], { add: ['\\Deleted'] });
    await elsewhere.messages.expunge(alice, box.id);
    await elsewhere.messages.append(alice, box.id, [{ raw: raw(604), flags: ['\\Seen'] }]);
    const again = await client.command('r2 SELECT Reselect');
    expect(again).toContain('* 3 EXISTS');
    expect(again).toContain('* 1 RECENT');
    expect(await client.command('r3 UID FETCH 1:* (FLAGS)')).toEqual([
      '* 1 FETCH (UID 2 FLAGS (\\Flagged))',
      '* 2 FETCH (UID 3 FLAGS ())',
      '* 3 FETCH (UID 4 FLAGS (\\Recent \\Seen))',
      'r3 OK UID FETCH completed',
    ]);
    await elsewhere.mailboxes.remove(alice, box.id);
    await elsewhere.mailboxes.create(alice, 'Reselect');
    const third = await client.command('r4 SELECT Reselect');
    expect(third).toContain('* 0 EXISTS');
    const validity = (lines: string[]) => lines.find((l) => l.includes('[UIDVALIDITY'));
    expect(validity(third)).not.toBe(validity(first));
    expect(await client.command('r5 UID SEARCH ALL')).toEqual(['* SEARCH', 'r5 OK UID SEARCH completed']);
  });

  it('reports at NOOP and CHECK what changed in the store though the feed never said so: new mail, flags, an expunge', async () => {
    // Writers whose events never reach the feed (lost, or still on their way): the store is all there is.
    const silent = { publish: async () => {} };
    const elsewhere = createImapServices({ db: store.db, events: silent, limiter: createRateLimiter(redis), hub, log });
    await elsewhere.mailboxes.create(alice, 'Polled');
    const box = (await elsewhere.mailboxes.find(alice, 'Polled'))!;
    await elsewhere.messages.append(alice, box.id, [1, 2].map((n) => ({ raw: raw(700 + n), flags: ['\\Seen'] })));
    const client = await session();
    expect(await client.command('p1 SELECT Polled')).toContain('* 2 EXISTS');
    await elsewhere.messages.append(alice, box.id, [{ raw: raw(703), flags: [] }]);
    const [one, two] = await elsewhere.messages.list(alice, box.id);
    await setFlags({ db: store.db, events: silent }, alice, [two!.id], { add: ['\\Flagged'] });
    // The SELECT claimed the first two as \\Recent for this session, the NOOP the third.
    expect(await client.command('p2 NOOP')).toEqual(['* 3 EXISTS', '* 3 RECENT', '* 2 FETCH (UID 2 FLAGS (\\Recent \\Seen \\Flagged))', 'p2 OK NOOP completed']);
    await elsewhere.messages.setFlags(alice, [one!.id], { add: ['\\Deleted'] });
    await elsewhere.messages.expunge(alice, box.id);
    expect(await client.command('p3 CHECK')).toEqual(['* 1 EXPUNGE', 'p3 OK CHECK completed']);
    expect(await client.command('p4 NOOP')).toEqual(['p4 OK NOOP completed']);
    expect(await client.command('p5 UID FETCH 1:* (FLAGS)')).toEqual(['* 1 FETCH (UID 2 FLAGS (\\Recent \\Seen \\Flagged))', '* 2 FETCH (UID 3 FLAGS (\\Recent))', 'p5 OK UID FETCH completed']);
  });

  it('wakes an IDLE session with a delivery and a flag change made elsewhere', async () => {
    const client = await session();
    const selected = await client.command('a1 SELECT INBOX');
    const exists = Number(/^\* (\d+) EXISTS$/.exec(selected.find((l) => l.endsWith('EXISTS'))!)![1]);
    client.write('a2 IDLE\r\n');
    await client.until((l) => l.startsWith('+'));
    const added = await deliver(3);
    expect(await client.until((l) => l.endsWith('EXISTS'))).toEqual([`* ${exists + 1} EXISTS`]);
    await setFlags({ db: store.db, events: createRedisEventPublisher(redis) }, alice, [added.messageId], { add: ['\\Answered'] });
    // The delivery is \Recent for this session (it is the one that saw it arrive).
    expect(await client.until((l) => l.includes('FETCH'))).toEqual(['* 1 RECENT', `* ${exists + 1} FETCH (UID ${added.uid} FLAGS (\\Recent \\Answered))`]);
    client.write('DONE\r\n');
    expect(await client.until((l) => l.startsWith('a2 '))).toEqual(['a2 OK IDLE terminated']);
  });
});
