import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadTlsMaterial, silentLogger, type TlsMaterial } from '../../../core/src/index.js';
import { createFakeImapStore, type FakeImapStore } from '../../../tests/helpers/imap-fakes.js';
import { connectImap, type ImapTranscriptClient } from '../../../tests/helpers/imap-transcript.js';
import { buildImapListener, type ImapListener, type ImapListenerOptions } from '../app.js';

/**
 * Transcripts of the IMAP handlers on in-memory fakes of the protocol services: each test sends
 * commands as a client writes them and asserts the server's lines, error replies included.
 */

let tlsMaterial: TlsMaterial;
let dataDir: string;
const open: Array<{ listener: ImapListener; clients: ImapTranscriptClient[] }> = [];

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imap-transcript-'));
  tlsMaterial = await loadTlsMaterial({ dataDir, hostname: 'imap.a.test' });
});
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));
afterEach(async () => {
  for (const { listener, clients } of open.splice(0)) {
    for (const c of clients) c.close();
    await listener.close();
  }
});

const MESSAGE = (n: number, extra = '') =>
  [`From: Bob <bob@b.test>`, `To: alice@a.test`, `Subject: Hello ${n}`, `Message-ID: <m${n}@b.test>`, 'Date: Mon, 23 Nov 2026 09:00:00 +0000', extra, '', `Body number ${n}`, ''].filter((l, i) => l !== '' || i > 5).join('\r\n');

async function serve(store: FakeImapStore, options: Partial<ImapListenerOptions> = {}) {
  const listener = buildImapListener({ services: store.services, log: silentLogger() }, { hostname: 'imap.a.test', tls: tlsMaterial, allowPlaintextAuth: true, ...options });
  const ports = await listener.listen({ imap: 0, imaps: 0 }, '127.0.0.1');
  const entry = { listener, clients: [] as ImapTranscriptClient[] };
  open.push(entry);
  return {
    ports,
    async connect(connectOptions: { tls?: boolean } = {}) {
      const client = await connectImap(connectOptions.tls ? ports.imaps : ports.imap, connectOptions);
      entry.clients.push(client);
      await client.greeting();
      return client;
    },
  };
}

/**
 * Records each batch of message ids whose bytes the session loads; message 5 of the INBOX is deleted by
 * another client after the session listed it; loading one message at a time fails the test.
 */
function recordContentBatches(store: FakeImapStore, what: string): number[][] {
  const batches: number[][] = [];
  const contents = store.services.messages.contents.bind(store.services.messages);
  store.services.messages.contents = async (userId, ids) => {
    batches.push([...ids]);
    return new Map([...(await contents(userId, ids))].filter(([id]) => id !== store.messages('INBOX')[4]!.id));
  };
  store.services.messages.content = () => Promise.reject(new Error(`${what} must not load message by message`));
  return batches;
}

async function signedIn(store: FakeImapStore, options: Partial<ImapListenerOptions> = {}) {
  const server = await serve(store, options);
  const client = await server.connect();
  expect((await client.command('l1 LOGIN alice@a.test secret')).at(-1)).toMatch(/^l1 OK/);
  return { server, client };
}

describe('greeting, capabilities and sign-in', () => {
  it('gives back the per-user slot of a LOGIN whose connection closed while the slot was on its way', async () => {
    // The slot comes late (as from the cluster primary with IMAP_PROCESSES): the client is gone by then.
    let grant!: (ok: boolean) => void;
    const held = new Map<string, number>();
    const slots = {
      acquire(kind: 'ip' | 'user', key: string) {
        held.set(`${kind}:${key}`, (held.get(`${kind}:${key}`) ?? 0) + 1);
        return kind === 'ip' ? true : new Promise<boolean>((resolve) => (grant = resolve));
      },
      release(kind: 'ip' | 'user', key: string) {
        held.set(`${kind}:${key}`, held.get(`${kind}:${key}`)! - 1);
      },
    };
    const server = await serve(createFakeImapStore(), { slots });
    const client = await server.connect();
    client.write('l1 LOGIN alice@a.test secret\r\n');
    const deadline = Date.now() + 10_000;
    while (grant === undefined && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect(grant).toBeDefined();
    client.close();
    while ((held.get('ip:127.0.0.1') ?? 0) > 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    grant(true);
    while ([...held].some(([key, n]) => key.startsWith('user:') && n > 0) && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    expect([...held].filter(([, n]) => n !== 0)).toEqual([]);
  });

  it('greets with its capabilities and refuses LOGIN before TLS unless allowed', async () => {
    const server = await serve(createFakeImapStore(), { allowPlaintextAuth: false });
    const client = await connectImap(server.ports.imap);
    const greeting = await client.greeting();
    expect(greeting).toMatch(/^\* OK \[CAPABILITY IMAP4rev1 .*STARTTLS.*LOGINDISABLED\]/);
    expect(await client.command('a1 LOGIN alice@a.test secret')).toEqual(['a1 NO [PRIVACYREQUIRED] Use STARTTLS (or port 993) before signing in']);
    expect(await client.command('a2 AUTHENTICATE PLAIN AGFsaWNlQGEudGVzdABzZWNyZXQ=')).toEqual(['a2 NO [PRIVACYREQUIRED] Use STARTTLS (or port 993) before signing in']);
    expect(await client.command('a3 STARTTLS')).toEqual(['a3 OK Begin TLS negotiation now']);
    await client.startTls();
    const caps = await client.command('a4 CAPABILITY');
    expect(caps[0]).toContain('AUTH=PLAIN');
    expect(caps[0]).not.toContain('STARTTLS');
    const login = await client.command('a5 LOGIN alice@a.test secret');
    expect(login.at(-1)).toMatch(/^a5 OK \[CAPABILITY IMAP4rev1 .*\] Signed in$/);
    client.close();
  });

  it('signs in on the implicit-TLS port', async () => {
    const server = await serve(createFakeImapStore(), { allowPlaintextAuth: false });
    const client = await server.connect({ tls: true });
    expect((await client.command('a1 LOGIN alice@a.test secret')).at(-1)).toMatch(/^a1 OK/);
  });

  it('answers a wrong password, a limited account and an unavailable store with their codes', async () => {
    const store = createFakeImapStore();
    const client = await (await serve(store)).connect();
    expect(await client.command('a1 LOGIN alice@a.test wrong')).toEqual(['a1 NO [AUTHENTICATIONFAILED] Invalid credentials']);
    expect(await client.command('a2 LOGIN limited@a.test x')).toEqual(['a2 NO [UNAVAILABLE] Too many failed sign-ins, try again in 60 seconds']);
    store.failing = true;
    expect(await client.command('a3 LOGIN alice@a.test secret')).toEqual(['a3 NO [UNAVAILABLE] Sign-in is unavailable, try again later']);
  });

  it('takes AUTHENTICATE PLAIN with an initial response and after a continuation', async () => {
    const server = await serve(createFakeImapStore());
    const first = await server.connect();
    expect((await first.command(`a1 AUTHENTICATE PLAIN ${Buffer.from('\0alice@a.test\0secret').toString('base64')}`)).at(-1)).toMatch(/^a1 OK/);
    const second = await server.connect();
    second.write('b1 AUTHENTICATE PLAIN\r\n');
    expect(await second.until((l) => l.startsWith('+'))).toEqual(['+ ']);
    second.write(`${Buffer.from('alice@a.test\0alice@a.test\0secret').toString('base64')}\r\n`);
    expect((await second.until((l) => l.startsWith('b1 '))).at(-1)).toMatch(/^b1 OK/);
    const third = await server.connect();
    third.write('c1 AUTHENTICATE PLAIN\r\n');
    await third.until((l) => l.startsWith('+'));
    third.write('*\r\n');
    expect(await third.until((l) => l.startsWith('c1 '))).toEqual(['c1 BAD Authentication cancelled']);
  });

  it('answers ID, NAMESPACE, ENABLE and LOGOUT', async () => {
    const { client } = await signedIn(createFakeImapStore());
    expect(await client.command('a1 ID ("name" "test")')).toEqual(['* ID ("name" "Mailyard" "vendor" "Mailyard")', 'a1 OK ID completed']);
    expect(await client.command('a2 NAMESPACE')).toEqual(['* NAMESPACE (("" "/")) NIL NIL', 'a2 OK NAMESPACE completed']);
    expect(await client.command('a3 ENABLE CONDSTORE QRESYNC')).toEqual(['* ENABLED CONDSTORE QRESYNC', 'a3 OK ENABLE completed']);
    expect(await client.command('a4 LOGOUT')).toEqual(['* BYE Mailyard IMAP signing off', 'a4 OK LOGOUT completed']);
    await client.closed();
  });

  it('compresses both ways after COMPRESS DEFLATE: commands, literals, large fetches and LOGOUT', async () => {
    const store = createFakeImapStore();
    const long = MESSAGE(1, `X-Filler: ${'the same words again '.repeat(2_000)}`);
    store.deliver('INBOX', long);
    const server = await serve(store);
    const client = await server.connect();
    expect((await client.command('c0 COMPRESS DEFLATE'))[0]).toMatch(/^c0 BAD /);
    expect((await client.command('l1 LOGIN alice@a.test secret')).at(-1)).toMatch(/^l1 OK/);
    expect(await client.command('c1 COMPRESS LZW')).toEqual(['c1 BAD unknown compression mechanism LZW']);
    expect(await client.command('c2 COMPRESS DEFLATE')).toEqual(['c2 OK DEFLATE active']);
    client.startCompression();
    expect((await client.command('c3 SELECT INBOX')).at(-1)).toBe('c3 OK [READ-WRITE] SELECT completed');
    const before = client.bytesReceived();
    const fetched = await client.command('c4 FETCH 1 (BODY.PEEK[])');
    expect(fetched.join('\r\n')).toContain('the same words again the same words again');
    expect(client.bytesReceived() - before).toBeLessThan(long.length / 10);
    const appended = MESSAGE(2);
    client.write(`c5 APPEND INBOX {${appended.length}}\r\n`);
    expect(await client.until((l) => l.startsWith('+'))).toEqual(['+ Ready for literal data']);
    client.write(`${appended}\r\n`);
    expect((await client.until((l) => l.startsWith('c5 '))).at(-1)).toMatch(/^c5 OK \[APPENDUID \d+ 2\] APPEND completed$/);
    expect(await client.command('c6 COMPRESS DEFLATE')).toEqual(['c6 NO [COMPRESSIONACTIVE] DEFLATE is already on']);
    expect(await client.command('c7 LOGOUT')).toEqual(['* BYE Mailyard IMAP signing off', 'c7 OK LOGOUT completed']);
    await client.closed();
  });

  it('deflates each command\'s responses in one call into zlib: one write that ends in a sync flush', async () => {
    const store = createFakeImapStore();
    for (let i = 1; i <= 20; i++) store.deliver('INBOX', MESSAGE(i));
    const { client } = await signedIn(store);
    // The first deflate stream made from here is the server's: it starts compressing before the client can.
    const created = vi.spyOn(zlib, 'createDeflateRaw');
    const calls: string[] = [];
    try {
      expect(await client.command('c1 COMPRESS DEFLATE')).toEqual(['c1 OK DEFLATE active']);
      // Each call into the native zlib handle (a trip through the thread pool).
      const handle = (created.mock.results[0]!.value as unknown as { _handle: Record<'write' | 'writeSync', (...args: unknown[]) => void> })._handle;
      for (const name of ['write', 'writeSync'] as const) {
        const original = handle[name].bind(handle);
        handle[name] = (...args: unknown[]) => {
          calls.push(name);
          original(...args);
        };
      }
      client.startCompression();
      for (const [command, last] of [['c2 SELECT INBOX', 'c2 OK [READ-WRITE] SELECT completed'], ['c3 FETCH 1:20 (FLAGS ENVELOPE)', 'c3 OK FETCH completed'], ['c4 NOOP', 'c4 OK NOOP completed']]) {
        calls.length = 0;
        expect((await client.command(command!)).at(-1)).toBe(last);
        expect({ command, calls }).toEqual({ command, calls: ['write'] });
      }
    } finally {
      created.mockRestore();
    }
  });

  it('caps connections per user and per IP', async () => {
    const store = createFakeImapStore();
    const server = await serve(store, { maxConnectionsPerUser: 1, maxConnectionsPerIp: 2 });
    const a = await server.connect();
    expect((await a.command('a1 LOGIN alice@a.test secret')).at(-1)).toMatch(/^a1 OK/);
    const b = await server.connect();
    expect(await b.command('b1 LOGIN alice@a.test secret')).toEqual(['b1 NO [LIMIT] Too many connections for this user']);
    const c = await connectImap(server.ports.imap);
    expect(await c.greeting()).toBe('* BYE Too many connections from your address');
    await c.closed();
  });

  it('logs out a client idle for longer than the timeout', async () => {
    const server = await serve(createFakeImapStore(), { idleTimeoutMs: 200 });
    const client = await server.connect();
    expect(await client.until((l) => l.startsWith('* BYE'))).toEqual(['* BYE Idle timeout, closing']);
    await client.closed();
  });
});

describe('malformed input', () => {
  it('answers BAD and keeps the connection', async () => {
    const { client } = await signedIn(createFakeImapStore());
    expect(await client.command('a1 FROB')).toEqual(['a1 BAD Unknown command FROB']);
    expect(await client.command('a2 SELECT "unterminated')).toEqual(['a2 BAD unterminated quoted string']);
    expect(await client.command('a3 FETCH 1 FLAGS')).toEqual(['a3 BAD FETCH is not allowed without a selected mailbox']);
    expect(await client.command('a4 LOGIN x y')).toEqual(['a4 BAD LOGIN is not allowed now']);
    client.write('\r\n');
    expect(await client.until(() => true)).toEqual(['* BAD a command starts with a tag']);
    expect(await client.command('a5 SELECT INBOX (BOGUS)')).toEqual(['a5 BAD unknown SELECT parameter BOGUS']);
    expect(await client.command('a6 NOOP')).toEqual(['a6 OK NOOP completed']);
  });

  it('refuses a literal over the limit before reading it, and closes on a non-synchronizing one', async () => {
    const store = createFakeImapStore();
    const { server, client } = await signedIn(store, { maxLiteralSize: 100 });
    client.write('a1 APPEND INBOX {101}\r\n');
    expect(await client.until(() => true)).toEqual(['a1 NO [TOOBIG] Literal of 101 bytes is over the limit of 100']);
    client.write('a2 APPEND INBOX {5}\r\n');
    expect(await client.until(() => true)).toEqual(['+ Ready for literal data']);
    client.write('hello\r\n');
    expect((await client.until((l) => l.startsWith('a2 '))).at(-1)).toMatch(/^a2 OK \[APPENDUID \d+ 1\]/);
    const other = await server.connect();
    other.write('b1 APPEND INBOX {500+}\r\n');
    expect(await other.until(() => true)).toEqual(['* BYE Literal too big']);
    await other.closed();
  });

  it('takes at most 8 KiB of literals in a command before sign-in', async () => {
    const client = await (await serve(createFakeImapStore())).connect();
    client.write('a1 LOGIN {9000}\r\n');
    expect(await client.until(() => true)).toEqual(['a1 NO [TOOBIG] Literal of 9000 bytes is over the limit of 8192']);
    client.write('a2 LOGIN {12}\r\n');
    expect(await client.until(() => true)).toEqual(['+ Ready for literal data']);
    client.write('alice@a.test secret\r\n');
    expect((await client.until((l) => l.startsWith('a2 '))).at(-1)).toMatch(/^a2 OK/);
  });
});

describe('folders', () => {
  it('lists folders with special-use and children attributes, extended forms and LSUB', async () => {
    const store = createFakeImapStore();
    const { client } = await signedIn(store);
    expect(await client.command('a1 CREATE "Projects/2026"')).toEqual(['a1 OK CREATE completed']);
    expect(await client.command('a2 LIST "" "*"')).toEqual([
      '* LIST (\\HasNoChildren) "/" "INBOX"',
      '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
      '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
      '* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
      '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
      '* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
      '* LIST (\\HasNoChildren) "/" "Projects/2026"',
      'a2 OK LIST completed',
    ]);
    expect(await client.command('a3 LIST "" "%"')).toContain('* LIST (\\Noselect \\HasChildren) "/" "Projects"');
    expect(await client.command('a4 LIST "" ""')).toEqual(['* LIST (\\Noselect) "/" ""', 'a4 OK LIST completed']);
    expect(await client.command('a5 LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)')).toEqual([
      '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
      '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
      '* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
      '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
      '* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
      'a5 OK LIST completed',
    ]);
    store.deliver('INBOX', MESSAGE(1));
    expect(await client.command('a6 LIST "" "inbox" RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UNSEEN UIDNEXT))')).toEqual([
      '* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"',
      '* STATUS "INBOX" (MESSAGES 1 UNSEEN 1 UIDNEXT 2)',
      'a6 OK LIST completed',
    ]);
    expect(await client.command('a7 LSUB "" "S*"')).toEqual(['* LSUB (\\HasNoChildren \\Sent \\Subscribed) "/" "Sent"', 'a7 OK LSUB completed']);
    expect(await client.command('a8 LIST "" "*" RETURN (BOGUS)')).toEqual(['a8 BAD unknown LIST return option BOGUS']);
  });

  it('creates, renames and deletes folders with modified UTF-7 names, and answers their errors', async () => {
    const store = createFakeImapStore();
    const { client } = await signedIn(store);
    expect(await client.command('a1 CREATE "&AMk-t&AOk- &- Co"')).toEqual(['a1 OK CREATE completed']);
    expect(store.mailbox('Été & Co').name).toBe('Été & Co');
    expect(await client.command('a2 LIST "" "&AMk-*"')).toEqual(['* LIST (\\HasNoChildren) "/" "&AMk-t&AOk- &- Co"', 'a2 OK LIST completed']);
    expect(await client.command('a3 CREATE "&AMk-t&AOk- &- Co"')).toEqual(['a3 NO [ALREADYEXISTS] Mailbox already exists']);
    expect(await client.command('a4 CREATE inbox')).toEqual(['a4 NO [ALREADYEXISTS] INBOX already exists']);
    expect(await client.command('a5 CREATE "bad&name"')).toEqual(['a5 NO [CANNOT] unterminated &-sequence in a mailbox name']);
    expect(await client.command('c1 SELECT "bad&name"')).toEqual(['c1 NO [CANNOT] unterminated &-sequence in a mailbox name']);
    expect(await client.command('c2 LIST "" "bad&name*"')).toEqual(['c2 OK LIST completed']);
    expect(await client.command('a6 RENAME "&AMk-t&AOk- &- Co" Summer')).toEqual(['a6 OK RENAME completed']);
    expect(await client.command('a7 RENAME Sent Other')).toEqual(['a7 NO [CANNOT] System mailboxes cannot be renamed or deleted']);
    expect(await client.command('a8 RENAME Nope Other')).toEqual(['a8 NO [NONEXISTENT] No such mailbox']);
    expect(await client.command('a9 STATUS Summer (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE)')).toEqual([
      `* STATUS "Summer" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY ${store.mailbox('Summer').uidvalidity} UNSEEN 0 HIGHESTMODSEQ 0 SIZE 0)`,
      'a9 OK STATUS completed',
    ]);
    expect(await client.command('b1 SUBSCRIBE Summer')).toEqual(['b1 OK SUBSCRIBE completed']);
    expect(await client.command('b2 DELETE Summer')).toEqual(['b2 OK DELETE completed']);
    expect(await client.command('b3 DELETE Summer')).toEqual(['b3 NO [NONEXISTENT] No such mailbox']);
    expect(await client.command('b4 STATUS INBOX (BOGUS)')).toEqual(['b4 BAD unknown STATUS item BOGUS']);
  });
});

describe('subscriptions and folder trees', () => {
  it('keeps subscriptions: LSUB, LIST (SUBSCRIBED) with \\NonExistent and CHILDINFO, and \\Noselect parents', async () => {
    const store = createFakeImapStore();
    const { client } = await signedIn(store);
    for (const name of ['Work', 'Work/Old', 'Work/New', 'Play']) expect((await client.command(`a0 CREATE ${name}`)).at(-1)).toBe('a0 OK CREATE completed');
    // CREATE leaves subscribing to the client; the default folders are subscribed.
    expect(await client.command('a1 LSUB "" "Work*"')).toEqual(['a1 OK LSUB completed']);
    expect(await client.command('a1 LSUB "" "D*"')).toEqual(['* LSUB (\\HasNoChildren \\Drafts \\Subscribed) "/" "Drafts"', 'a1 OK LSUB completed']);
    expect(await client.command('a2 SUBSCRIBE Work/Old')).toEqual(['a2 OK SUBSCRIBE completed']);
    expect(await client.command('a3 SUBSCRIBE Nowhere')).toEqual(['a3 NO [NONEXISTENT] No such mailbox']);
    expect(await client.command('a4 LSUB "" "Work/%"')).toEqual(['* LSUB (\\HasNoChildren \\Subscribed) "/" "Work/Old"', 'a4 OK LSUB completed']);
    expect(await client.command('a5 LSUB "" "%"')).toEqual(expect.arrayContaining(['* LSUB (\\Noselect \\HasChildren) "/" "Work"']));
    expect(await client.command('a6 LIST (SUBSCRIBED RECURSIVEMATCH) "" "W%"')).toEqual(['* LIST (\\HasChildren) "/" "Work" (CHILDINFO ("SUBSCRIBED"))', 'a6 OK LIST completed']);
    expect(await client.command('a7 LIST "" "W*" RETURN (SUBSCRIBED)')).toEqual([
      '* LIST (\\HasChildren) "/" "Work"',
      '* LIST (\\HasNoChildren \\Subscribed) "/" "Work/Old"',
      '* LIST (\\HasNoChildren) "/" "Work/New"',
      'a7 OK LIST completed',
    ]);
    // A deleted folder's name stays subscribed until UNSUBSCRIBE.
    expect(await client.command('b1 DELETE Work/Old')).toEqual(['b1 OK DELETE completed']);
    expect(await client.command('b2 LIST (SUBSCRIBED) "" "Work/*"')).toEqual(['* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "/" "Work/Old"', 'b2 OK LIST completed']);
    expect(await client.command('b3 UNSUBSCRIBE Work/Old')).toEqual(['b3 OK UNSUBSCRIBE completed']);
    expect(await client.command('b4 UNSUBSCRIBE Work/Old')).toEqual(['b4 NO [NONEXISTENT] Not subscribed to that name']);
    expect(await client.command('b5 LSUB "" "Work*"')).toEqual(['b5 OK LSUB completed']);
  });

  it('renames a folder with its subfolders and refuses to delete a folder that has some', async () => {
    const store = createFakeImapStore();
    const { client } = await signedIn(store);
    for (const name of ['A', 'A/B', 'A/B/C']) await client.command(`a0 CREATE ${name}`);
    await client.command('a1 SUBSCRIBE A/B');
    expect(await client.command('a2 DELETE A')).toEqual(['a2 NO [INUSE] The folder has subfolders: delete or move them first']);
    expect(await client.command('a3 RENAME A Z')).toEqual(['a3 OK RENAME completed']);
    expect(await client.command('a4 LIST "" "*" RETURN (SUBSCRIBED)')).toEqual(expect.arrayContaining(['* LIST (\\HasChildren) "/" "Z"', '* LIST (\\HasChildren \\Subscribed) "/" "Z/B"', '* LIST (\\HasNoChildren) "/" "Z/B/C"']));
    expect(await client.command('a5 LIST "" "A/*"')).toEqual(['a5 OK LIST completed']);
    expect(await client.command('a6 DELETE Z/B/C')).toEqual(['a6 OK DELETE completed']);
    expect(await client.command('a7 DELETE Z/B')).toEqual(['a7 OK DELETE completed']);
  });
});

describe('QRESYNC', () => {
  it('tells a returning client what vanished and changed, and reports expunges as VANISHED', async () => {
    const store = createFakeImapStore();
    for (let i = 1; i <= 4; i++) store.deliver('INBOX', MESSAGE(i));
    const inbox = store.mailbox('INBOX');
    const since = Math.max(...store.messages('INBOX').map((m) => m.modseq));
    // While the client was away: message 2 expunged, message 3 flagged.
    const { client } = await signedIn(store);
    await client.command('a0 SELECT INBOX');
    await client.command('a1 STORE 2 +FLAGS (\\Deleted)');
    await client.command('a2 EXPUNGE');
    store.setFlagsElsewhere('INBOX', 3, ['\\Flagged']);
    await client.command('a3 LOGOUT');

    const { client: back } = await signedIn(store);
    expect(await back.command('b0 SELECT INBOX (QRESYNC (1 2))')).toEqual(['b0 BAD QRESYNC is not enabled']);
    expect(await back.command('b1 ENABLE QRESYNC')).toEqual(['* ENABLED QRESYNC', 'b1 OK ENABLE completed']);
    const selected = await back.command(`b2 SELECT INBOX (QRESYNC (${inbox.uidvalidity} ${since}))`);
    const flagged = store.messages('INBOX').find((m) => m.uid === 3)!;
    expect(selected.slice(-3)).toEqual(['* VANISHED (EARLIER) 2', `* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (${flagged.modseq}))`, 'b2 OK [READ-WRITE] SELECT completed']);
    // Known UIDs narrow it; another UIDVALIDITY gets nothing (the client starts over).
    expect((await back.command(`b3 EXAMINE INBOX (QRESYNC (${inbox.uidvalidity} ${since} 3:4))`)).filter((l) => /VANISHED|FETCH/.test(l))).toEqual([`* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (${flagged.modseq}))`]);
    expect((await back.command(`b4 SELECT INBOX (QRESYNC (${inbox.uidvalidity + 1} ${since}))`)).filter((l) => /VANISHED|FETCH/.test(l))).toEqual([]);
    expect(await back.command(`b5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${since} VANISHED)`)).toEqual(['* VANISHED (EARLIER) 2', `* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (${flagged.modseq}))`, 'b5 OK UID FETCH completed']);
    expect(await back.command(`b6 FETCH 1:* (FLAGS) (CHANGEDSINCE ${since} VANISHED)`)).toEqual(['b6 BAD VANISHED needs UID FETCH with CHANGEDSINCE and QRESYNC enabled']);
    // With QRESYNC on, an expunge is a VANISHED by UID.
    await back.command('b7 UID STORE 4 +FLAGS.SILENT (\\Deleted)');
    expect(await back.command('b8 EXPUNGE')).toEqual(['* VANISHED 4', 'b8 OK EXPUNGE completed']);
  });
});

describe('selected mailbox', () => {
  async function withMail(count: number) {
    const store = createFakeImapStore();
    for (let i = 1; i <= count; i++) store.deliver('INBOX', MESSAGE(i), { flags: i === 1 ? ['\\Seen'] : [] });
    const { server, client } = await signedIn(store);
    return { store, server, client };
  }

  it('selects with FLAGS, EXISTS, UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ; EXAMINE is read-only', async () => {
    const { store, client } = await withMail(2);
    const inbox = store.mailbox('INBOX');
    expect(await client.command('a1 SELECT INBOX (CONDSTORE)')).toEqual([
      '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)',
      '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted',
      '* 2 EXISTS',
      '* 0 RECENT',
      '* OK [UNSEEN 2] First unseen',
      `* OK [UIDVALIDITY ${inbox.uidvalidity}] UIDs valid`,
      '* OK [UIDNEXT 3] Predicted next UID',
      `* OK [HIGHESTMODSEQ ${inbox.highestmodseq}] Highest`,
      'a1 OK [READ-WRITE] SELECT completed',
    ]);
    const examine = await client.command('a2 EXAMINE INBOX');
    expect(examine[0]).toBe('* OK [CLOSED] Previous mailbox closed');
    expect(examine.at(-1)).toBe('a2 OK [READ-ONLY] EXAMINE completed');
    expect(await client.command('a3 STORE 1 +FLAGS (\\Flagged)')).toEqual(['a3 NO [READ-ONLY] Mailbox is read-only']);
    expect(await client.command('a4 SELECT Nope')).toEqual(['* OK [CLOSED] Previous mailbox closed', 'a4 NO [NONEXISTENT] No such mailbox']);
    expect(await client.command('a5 FETCH 1 FLAGS')).toEqual(['a5 BAD FETCH is not allowed without a selected mailbox']);
  });

  it('selects the selected mailbox again from what changed since its view was read, the store saying what changed, not the feed', async () => {
    const { store, client } = await withMail(3);
    const calls: Array<{ since?: { lastUid: number; modseq: number } }> = [];
    const sync = store.services.messages.sync.bind(store.services.messages);
    store.services.messages.sync = (userId, mailboxId, options) => {
      calls.push({ since: options.since });
      return sync(userId, mailboxId, options);
    };
    await client.command('a1 SELECT INBOX');
    // Changed in the store without a feed event (another process whose event has not come yet):
    // a flag, and a new message.
    const second = store.messages('INBOX')[1]!;
    second.flags = ['\\Flagged'];
    second.modseq = store.mailbox('INBOX').highestmodseq = 500;
    store.deliver('INBOX', MESSAGE(4));
    const again = await client.command('a2 SELECT INBOX');
    expect(again).toContain('* 4 EXISTS');
    expect(again).toContain('* OK [UNSEEN 2] First unseen');
    expect(again).toContain('* OK [HIGHESTMODSEQ 500] Highest');
    expect(calls.map((c) => c.since)).toEqual([undefined, { lastUid: 3, modseq: 103 }]);
    expect(await client.command('a3 FETCH 1:* (UID FLAGS)')).toEqual([
      '* 1 FETCH (UID 1 FLAGS (\\Seen))',
      '* 2 FETCH (UID 2 FLAGS (\\Flagged))',
      '* 3 FETCH (UID 3 FLAGS ())',
      '* 4 FETCH (UID 4 FLAGS ())',
      'a3 OK FETCH completed',
    ]);
    // Expunged by another session meanwhile: gone from the next SELECT (whose view starts from the last one).
    await client.command('a4 STORE 1 +FLAGS.SILENT (\\Deleted)');
    const other = await (await serve(store)).connect();
    await other.command('b0 LOGIN alice@a.test secret');
    await other.command('b1 SELECT INBOX');
    await other.command('b2 EXPUNGE');
    await client.command('a5 EXAMINE Archive');
    const third = await client.command('a6 SELECT INBOX');
    expect(third).toContain('* 3 EXISTS');
    expect(calls.at(-1)?.since).toBeUndefined();
    expect(await client.command('a7 UID SEARCH ALL')).toEqual(['* SEARCH 2 3 4', 'a7 OK UID SEARCH completed']);
    const fourth = await client.command('a8 EXAMINE INBOX');
    expect(fourth).toContain('* 3 EXISTS');
    expect(calls.at(-1)?.since).toEqual({ lastUid: 4, modseq: 500 });
  });

  it('reads the whole mailbox again when the changes cannot be told, keeping what it claimed as \\Recent', async () => {
    const { store, client } = await withMail(2);
    const calls: Array<{ since?: { lastUid: number; modseq: number }; claimRecent: boolean }> = [];
    const sync = store.services.messages.sync.bind(store.services.messages);
    store.services.messages.sync = async (userId, mailboxId, options) => {
      calls.push(options);
      const read = await sync(userId, mailboxId, options);
      // Too much changed for the change log to say (or the count does not add up).
      return options.since ? { ...read, gone: null } : read;
    };
    await client.command('a1 SELECT INBOX');
    await store.services.messages.append(store.userId, store.mailbox('INBOX').id, [{ raw: Buffer.from(MESSAGE(3)), flags: [] }]);
    const again = await client.command('a2 SELECT INBOX');
    expect(again).toContain('* 3 EXISTS');
    expect(again).toContain('* 1 RECENT');
    expect(calls.map((c) => [c.since?.lastUid ?? null, c.claimRecent])).toEqual([
      [null, true],
      [2, true],
      [null, false],
    ]);
  });

  it('keeps a change that comes while SELECT reads the mailbox, and reports it', async () => {
    const { store, client } = await withMail(2);
    const sync = store.services.messages.sync.bind(store.services.messages);
    store.services.messages.sync = async (userId, mailboxId, options) => {
      const read = await sync(userId, mailboxId, options);
      // Committed after the read, its event on its way while the SELECT answers.
      store.setFlagsElsewhere('INBOX', 2, ['\\Answered']);
      return read;
    };
    const selected = await client.command('a1 SELECT INBOX');
    expect(selected.at(-2)).toBe('* 2 FETCH (UID 2 FLAGS (\\Answered))');
    expect(selected.at(-1)).toBe('a1 OK [READ-WRITE] SELECT completed');
  });

  it('loads the bytes of a range in a few queries (by count), not one per message, and skips one deleted meanwhile', async () => {
    const { store, client } = await withMail(40);
    const batches = recordContentBatches(store, 'FETCH of a range');
    await client.command('a0 SELECT INBOX');
    const fetched = await client.command('a1 FETCH 1:* (UID ENVELOPE)');
    expect(batches.map((b) => b.length)).toEqual([32, 8]);
    expect(fetched.filter((l) => l.startsWith('* ')).map((l) => /^\* (\d+) FETCH \(UID (\d+) ENVELOPE \("[^"]*" "Hello (\d+)"/.exec(l)!.slice(1).join('/'))).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1)
        .filter((n) => n !== 5)
        .map((n) => `${n}/${n}/${n}`),
    );
    expect(fetched.at(-1)).toBe('a1 OK FETCH completed');
    // Items that need no bytes load none; envelopes already given come from the structure cache.
    batches.length = 0;
    expect((await client.command('a2 FETCH 1:* (FLAGS RFC822.SIZE)')).at(-1)).toBe('a2 OK FETCH completed');
    const again = await client.command('a3 FETCH 1:4 (ENVELOPE BODYSTRUCTURE)');
    expect(batches).toEqual([]); // the structure was kept with the envelope
    expect(again[0]).toMatch(/^\* 1 FETCH \(ENVELOPE \("[^"]*" "Hello 1" .*\) BODYSTRUCTURE \("TEXT" "PLAIN"/i);
    expect((await client.command('a4 FETCH 1:4 (BODY ENVELOPE BODYSTRUCTURE)')).at(-1)).toBe('a4 OK FETCH completed');
    expect(batches).toEqual([]);
    // A body item always loads the bytes.
    expect((await client.command('a5 FETCH 2 (ENVELOPE BODY.PEEK[TEXT])'))[0]).toMatch(/^\* 2 FETCH \(ENVELOPE .*"Hello 2".* BODY\[TEXT\] \{\d+\}$/);
    expect(batches.map((b) => b.length)).toEqual([1]);
  });

  it('searches header fields the store does not index (HEADER, BCC, SENTON, TEXT) with the bytes loaded in batches, and skips one deleted meanwhile', async () => {
    const { store, client } = await withMail(40);
    const batches = recordContentBatches(store, 'SEARCH');
    await client.command('a0 SELECT INBOX');
    expect(await client.command('a1 SEARCH HEADER Message-ID "<m37@b.test>"')).toEqual(['* SEARCH 37', 'a1 OK SEARCH completed']);
    expect(batches.map((b) => b.length)).toEqual([32, 8]);
    expect(await client.command('a2 SEARCH HEADER Message-ID "<m5@b.test>"')).toEqual(['* SEARCH', 'a2 OK SEARCH completed']);
    expect(await client.command('a3 SEARCH BCC nobody')).toEqual(['* SEARCH', 'a3 OK SEARCH completed']);
    expect((await client.command('a4 SEARCH SENTON 23-Nov-2026'))[0]).toBe(`* SEARCH ${Array.from({ length: 40 }, (_, i) => i + 1).join(' ')}`);
    // TEXT reads the header of only the 39 messages the store's columns did not match.
    batches.length = 0;
    expect(await client.command('a5 SEARCH TEXT "m12@b.test"')).toEqual(['* SEARCH 12', 'a5 OK SEARCH completed']);
    expect(batches.map((b) => b.length)).toEqual([32, 7]);
  });

  it('fetches flags, sizes, dates, bodies and sections, and marks \\Seen on a non-PEEK body fetch', async () => {
    const { store, client } = await withMail(2);
    await client.command('a0 SELECT INBOX');
    expect(await client.command('a1 UID FETCH 1:* (FLAGS)')).toEqual(['* 1 FETCH (UID 1 FLAGS (\\Seen))', '* 2 FETCH (UID 2 FLAGS ())', 'a1 OK UID FETCH completed']);
    const size = store.messages('INBOX')[1]!.size;
    expect(await client.command('a2 FETCH 2 (UID RFC822.SIZE INTERNALDATE)')).toEqual([`* 2 FETCH (UID 2 RFC822.SIZE ${size} INTERNALDATE "23-Nov-2026 09:00:00 +0000")`, 'a2 OK FETCH completed']);
    expect(await client.command('a3 FETCH 2 (BODY.PEEK[HEADER.FIELDS (Subject)])')).toEqual(['* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {20}', 'Subject: Hello 2', '', ')', 'a3 OK FETCH completed']);
    expect(store.messages('INBOX')[1]!.flags).toEqual([]);
    const envelope = await client.command('a4 FETCH 2 ENVELOPE');
    expect(envelope[0]).toMatch(/^\* 2 FETCH \(ENVELOPE \("Mon, 23 Nov 2026 09:00:00 \+0000" "Hello 2" \(\("Bob" NIL "bob" "b.test"\)\)/);
    const body = await client.command('a5 FETCH 2 BODY[]');
    expect(body[0]).toBe(`* 2 FETCH (FLAGS (\\Seen) BODY[] {${size}}`);
    expect(body).toContain('Body number 2');
    expect(store.messages('INBOX')[1]!.flags).toEqual(['\\Seen']);
    expect(await client.command('a6 FETCH 2 (BODY[TEXT]<0.4>)')).toEqual(['* 2 FETCH (BODY[TEXT]<0> {4}', 'Body)', 'a6 OK FETCH completed']);
    expect((await client.command('a7 FETCH 1 BODYSTRUCTURE'))[0]).toMatch(/^\* 1 FETCH \(BODYSTRUCTURE \("TEXT" "PLAIN"/i);
    expect(await client.command('a8 FETCH 3 FLAGS')).toEqual(['a8 BAD Invalid message sequence number']);
    expect(await client.command('a9 UID FETCH 3:5 FLAGS')).toEqual(['a9 OK UID FETCH completed']);
    expect(await client.command('b1 FETCH 1 (FLAGS BOGUS)')).toEqual(['b1 BAD unknown FETCH item "BOGUS"']);
    expect(await client.command('b2 FETCH 1 BODY[1.HEADER.FIELDS]')).toEqual(['b2 BAD invalid section [1.HEADER.FIELDS]']);
  });

  it('fetches BINARY sections decoded from base64 and quoted-printable, their sizes and partials, literal8 for NUL, UNKNOWN-CTE', async () => {
    const store = createFakeImapStore();
    const raw = [
      'From: a@b.test',
      'Subject: parts',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="xx"',
      '',
      '--xx',
      'Content-Type: text/plain',
      'Content-Transfer-Encoding: base64',
      '',
      'aGVs',
      'bG8gd29ybGQ=',
      '--xx',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: Quoted-Printable',
      '',
      'a=00b=3D=',
      'c ',
      '--xx',
      'Content-Type: text/plain',
      'Content-Transfer-Encoding: x-uuencode',
      '',
      'begin 644 x',
      '--xx--',
      '',
    ].join('\r\n');
    store.deliver('INBOX', raw);
    const { client } = await signedIn(store);
    await client.command('a0 SELECT INBOX');
    expect(await client.command('a1 FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.SIZE[])')).toEqual([`* 1 FETCH (BINARY.SIZE[1] 11 BINARY[1] {11}`, `hello world BINARY.SIZE[] ${raw.length})`, 'a1 OK FETCH completed']);
    expect(await client.command('a2 FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])')).toEqual(['* 1 FETCH (BINARY[2] ~{5}', 'a\0b=c BINARY.SIZE[2] 5)', 'a2 OK FETCH completed']);
    expect(await client.command('a3 FETCH 1 (BINARY.PEEK[1]<6.100>)')).toEqual(['* 1 FETCH (BINARY[1]<6> {5}', 'world)', 'a3 OK FETCH completed']);
    expect(await client.command('a4 FETCH 1 (BINARY.PEEK[3])')).toEqual(['a4 NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding x-uuencode']);
    expect(await client.command('a5 FETCH 1 (BINARY.SIZE[3])')).toEqual(['a5 NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding x-uuencode']);
    // A failed non-PEEK BINARY fetch changes no flags.
    expect(await client.command('b0 FETCH 1 (BINARY[1] BINARY[3])')).toEqual(['b0 NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding x-uuencode']);
    expect(store.messages('INBOX')[0]!.flags).toEqual([]);
    expect(await client.command('a6 FETCH 1 BINARY[1]')).toEqual(['* 1 FETCH (FLAGS (\\Seen) BINARY[1] {11}', 'hello world)', 'a6 OK FETCH completed']);
    expect(store.messages('INBOX')[0]!.flags).toEqual(['\\Seen']);
    expect(await client.command('a7 FETCH 1 BINARY[1.HEADER]')).toEqual(['a7 BAD invalid BINARY section [1.HEADER]']);
    expect((await client.command('a8 CAPABILITY'))[0]).toMatch(/ BINARY( |$)/);
  });

  it('appends a literal8 with NUL bytes, stored base64-encoded and fetched back as BINARY; refuses NUL in a plain literal', async () => {
    const { store, client } = await withMail(0);
    const inbox = store.mailbox('INBOX');
    const raw = Buffer.from('From: a@b.test\r\nSubject: bin\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\0-\xe4\r\n', 'latin1');
    client.write(Buffer.concat([Buffer.from(`a1 APPEND INBOX ~{${raw.length}+}\r\n`), raw, Buffer.from('\r\n')]));
    expect(await client.until((l) => l.startsWith('a1 '))).toEqual([`a1 OK [APPENDUID ${inbox.uidvalidity} 1] APPEND completed`]);
    await client.command('a2 SELECT INBOX');
    expect(await client.command('a3 FETCH 1 (BODY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[1])')).toEqual(['* 1 FETCH (BODY[1] {8}', 'AC3kDQo= BINARY.SIZE[1] 5 BINARY[1] ~{5}', '\0-\xe4', ')', 'a3 OK FETCH completed']);
    expect(await client.command('a4 FETCH 1 BODY.PEEK[HEADER.FIELDS (Content-Transfer-Encoding)]')).toEqual(['* 1 FETCH (BODY[HEADER.FIELDS (CONTENT-TRANSFER-ENCODING)] {37}', 'Content-Transfer-Encoding: base64', '', ')', 'a4 OK FETCH completed']);
    client.write(Buffer.concat([Buffer.from(`a5 APPEND INBOX {${raw.length}+}\r\n`), raw, Buffer.from('\r\n')]));
    expect(await client.until((l) => l.startsWith('a5 '))).toEqual(['a5 BAD a literal cannot hold NUL (send binary data as a literal8, ~{n})']);
    client.write('a6 APPEND ~{5+}\r\nINBOX {3+}\r\nabc\r\n');
    expect(await client.until((l) => l.startsWith('a6 '))).toEqual(['a6 BAD a literal8 (~{n}) is allowed only for APPEND message data']);
    client.write('a7 APPEND INBOX ~{15+}\r\nSubject: \0\r\n\r\nx\r\n');
    expect(await client.until((l) => l.startsWith('a7 '))).toEqual(['a7 NO [UNKNOWN-CTE] NUL outside a binary MIME part cannot be stored']);
    expect(store.messages('INBOX')).toHaveLength(1);
  });

  it('stores flags (silent, conditional) and reports MODIFIED for conflicts', async () => {
    const { store, client } = await withMail(2);
    await client.command('a0 SELECT INBOX');
    expect(await client.command('a1 STORE 1:2 +FLAGS (\\Flagged)')).toEqual(['* 1 FETCH (FLAGS (\\Seen \\Flagged))', '* 2 FETCH (FLAGS (\\Flagged))', 'a1 OK STORE completed']);
    expect(await client.command('a2 UID STORE 2 -FLAGS.SILENT (\\Flagged)')).toEqual(['a2 OK STORE completed']);
    expect(store.messages('INBOX')[1]!.flags).toEqual([]);
    expect(await client.command('a3 STORE 2 FLAGS ($Forwarded \\Answered)')).toEqual(['* 2 FETCH (FLAGS ($Forwarded \\Answered))', 'a3 OK STORE completed']);
    const modseq = store.messages('INBOX')[0]!.modseq;
    const highest = Math.max(store.mailbox('INBOX').highestmodseq, ...store.messages('INBOX').map((m) => m.modseq));
    // The first CONDSTORE command in the mailbox reports HIGHESTMODSEQ (RFC 7162 3.1).
    expect(await client.command(`a4 UID STORE 1:2 (UNCHANGEDSINCE ${modseq}) +FLAGS (\\Deleted)`)).toEqual([
      `* OK [HIGHESTMODSEQ ${highest}] CONDSTORE enabled`,
      `* 1 FETCH (UID 1 FLAGS (\\Seen \\Flagged \\Deleted) MODSEQ (${store.messages('INBOX')[0]!.modseq}))`,
      'a4 OK [MODIFIED 2] Conditional STORE failed for some messages',
    ]);
    expect(await client.command('a5 STORE 1 +FLAGS (\\Bogus)')).toEqual(['a5 BAD \\Bogus is not a flag that can be stored']);
    expect(await client.command('a6 STORE 1 REPLACE (\\Seen)')).toEqual(['a6 BAD unknown STORE action REPLACE']);
  });

  it('copies and moves with COPYUID, expunges, and closes', async () => {
    const { store, client } = await withMail(3);
    await client.command('a0 SELECT INBOX');
    const archive = store.mailbox('Archive');
    expect(await client.command('a1 COPY 1:2 Archive')).toEqual([`a1 OK [COPYUID ${archive.uidvalidity} 1:2 1:2] COPY completed`]);
    expect(await client.command('a2 UID MOVE 2 Archive')).toEqual([`* OK [COPYUID ${archive.uidvalidity} 2 3] Moved`, '* 2 EXPUNGE', 'a2 OK MOVE completed']);
    expect(await client.command('a3 MOVE 1 Nowhere')).toEqual(['a3 NO [TRYCREATE] No such mailbox']);
    expect(await client.command('a4 STORE 1 +FLAGS.SILENT (\\Deleted)')).toEqual(['a4 OK STORE completed']);
    expect(await client.command('a5 EXPUNGE')).toEqual(['* 1 EXPUNGE', 'a5 OK EXPUNGE completed']);
    expect(await client.command('a6 UID FETCH 1:* FLAGS')).toEqual(['* 1 FETCH (UID 3 FLAGS ())', 'a6 OK UID FETCH completed']);
    expect(await client.command('a7 UID STORE 3 +FLAGS (\\Deleted)')).toEqual(['* 1 FETCH (UID 3 FLAGS (\\Deleted))', 'a7 OK STORE completed']);
    expect(await client.command('a8 CLOSE')).toEqual(['a8 OK CLOSE completed']);
    expect(store.messages('INBOX')).toEqual([]);
    expect(store.messages('Archive').map((m) => m.uid).sort()).toEqual([1, 2, 3]);
  });

  it('appends with APPENDUID, answers the existing UID for a copy already in Sent, and TRYCREATE for no folder', async () => {
    const { store, client } = await withMail(0);
    const sent = store.mailbox('Sent');
    const raw = MESSAGE(9);
    client.write(`a1 APPEND Sent (\\Seen) "24-Nov-2026 10:00:00 +0100" {${raw.length}+}\r\n${raw}\r\n`);
    expect(await client.until((l) => l.startsWith('a1 '))).toEqual([`a1 OK [APPENDUID ${sent.uidvalidity} 1] APPEND completed`]);
    expect(store.messages('Sent')[0]!.internalDate.toISOString()).toBe('2026-11-24T09:00:00.000Z');
    expect(store.messages('Sent')[0]!.flags).toEqual(['\\Seen']);
    client.write(`a2 APPEND Sent {${raw.length}+}\r\n${raw}\r\n`);
    expect(await client.until((l) => l.startsWith('a2 '))).toEqual([`a2 OK [APPENDUID ${sent.uidvalidity} 1] APPEND completed (already in Sent)`]);
    expect(store.messages('Sent')).toHaveLength(1);
    client.write(`a3 APPEND Nowhere {${raw.length}+}\r\n${raw}\r\n`);
    expect(await client.until((l) => l.startsWith('a3 '))).toEqual(['a3 NO [TRYCREATE] No such mailbox']);
    client.write('a4 APPEND INBOX "not a date" {3+}\r\nabc\r\n');
    expect(await client.until((l) => l.startsWith('a4 '))).toEqual(['a4 BAD invalid date-time "not a date"']);
  });

  it('appends several messages in one command (MULTIAPPEND), each with its flags and date, answering a UID set', async () => {
    const { store, client } = await withMail(0);
    const box = store.mailbox('Drafts');
    const [m1, m2, m3] = [MESSAGE(21), MESSAGE(22), MESSAGE(23)];
    client.write(`a1 APPEND Drafts (\\Seen) "01-Dec-2026 08:00:00 +0000" {${m1.length}+}\r\n${m1} {${m2.length}+}\r\n${m2} (\\Flagged) {${m3.length}+}\r\n${m3}\r\n`);
    expect(await client.until((l) => l.startsWith('a1 '))).toEqual([`a1 OK [APPENDUID ${box.uidvalidity} 1:3] APPEND completed`]);
    expect(store.messages('Drafts').map((m) => [m.uid, m.flags])).toEqual([
      [1, ['\\Seen']],
      [2, []],
      [3, ['\\Flagged']],
    ]);
    expect(store.messages('Drafts')[0]!.internalDate.toISOString()).toBe('2026-12-01T08:00:00.000Z');
    expect((await client.command('a2 CAPABILITY'))[0]).toContain(' MULTIAPPEND ');
    // A quoted string where a message belongs is refused, and nothing of the command is stored.
    client.write(`a3 APPEND Drafts {${m1.length}+}\r\n${m1} "01-Dec-2026 08:00:00 +0000" "just text"\r\n`);
    expect(await client.until((l) => l.startsWith('a3 '))).toEqual(['a3 BAD the message must be a literal']);
    expect(store.messages('Drafts')).toHaveLength(3);
  });

  it('keeps the zone an APPEND gave INTERNALDATE in: FETCH answers in it, SEARCH BEFORE/ON/SINCE take its calendar day there', async () => {
    const { client } = await withMail(0);
    const [m1, m2] = [MESSAGE(31), MESSAGE(32)];
    // 1 Dec 23:30 in New York is 2 Dec 04:30 UTC; 2 Dec 00:30 in Berlin is 1 Dec 23:30 UTC.
    client.write(`a1 APPEND Drafts "01-Dec-2026 23:30:00 -0500" {${m1.length}+}\r\n${m1} "02-Dec-2026 00:30:00 +0100" {${m2.length}+}\r\n${m2}\r\n`);
    expect((await client.until((l) => l.startsWith('a1 ')))[0]).toMatch(/^a1 OK /);
    await client.command('a2 SELECT Drafts');
    expect(await client.command('a3 FETCH 1:2 INTERNALDATE')).toEqual([
      '* 1 FETCH (INTERNALDATE "01-Dec-2026 23:30:00 -0500")',
      '* 2 FETCH (INTERNALDATE "02-Dec-2026 00:30:00 +0100")',
      'a3 OK FETCH completed',
    ]);
    expect(await client.command('a4 SEARCH ON 1-Dec-2026')).toEqual(['* SEARCH 1', 'a4 OK SEARCH completed']);
    expect(await client.command('a5 SEARCH ON 2-Dec-2026')).toEqual(['* SEARCH 2', 'a5 OK SEARCH completed']);
    expect(await client.command('a6 SEARCH SINCE 2-Dec-2026')).toEqual(['* SEARCH 2', 'a6 OK SEARCH completed']);
    expect(await client.command('a7 SEARCH BEFORE 2-Dec-2026')).toEqual(['* SEARCH 1', 'a7 OK SEARCH completed']);
    // A zone past ±23:59, or minutes past 59, is no zone.
    client.write(`a8 APPEND Drafts "01-Dec-2026 08:00:00 +0075" {3+}\r\nabc\r\n`);
    expect(await client.until((l) => l.startsWith('a8 '))).toEqual(['a8 BAD invalid zone in date-time "01-Dec-2026 08:00:00 +0075"']);
  });

  it('reports the storage quota (QUOTA, RFC 9208): one root "" in KiB, none without a quota, and SETQUOTA refused', async () => {
    const { store, client } = await withMail(2);
    expect((await client.command('q0 CAPABILITY'))[0]).toMatch(/ QUOTA QUOTA=RES-STORAGE( |$)/);
    expect(await client.command('q1 GETQUOTAROOT INBOX')).toEqual(['* QUOTAROOT "INBOX"', 'q1 OK GETQUOTAROOT completed']);
    expect(await client.command('q2 GETQUOTA ""')).toEqual(['q2 NO [NONEXISTENT] No such quota root']);
    store.quotaBytes = 10 * 1024 * 1024;
    const usedKiB = Math.ceil([...store.messages('INBOX')].reduce((sum, m) => sum + m.raw.length, 0) / 1024);
    expect(await client.command('q3 GETQUOTAROOT INBOX')).toEqual(['* QUOTAROOT "INBOX" ""', `* QUOTA "" (STORAGE ${usedKiB} 10240)`, 'q3 OK GETQUOTAROOT completed']);
    expect(await client.command('q4 GETQUOTA ""')).toEqual([`* QUOTA "" (STORAGE ${usedKiB} 10240)`, 'q4 OK GETQUOTA completed']);
    expect(await client.command('q5 GETQUOTAROOT Nowhere')).toEqual(['q5 NO [NONEXISTENT] No such mailbox']);
    expect(await client.command('q6 SETQUOTA "" (STORAGE 1)')).toEqual(['q6 NO [NOPERM] Quotas are set by an administrator']);
  });

  it('reports changes from elsewhere after NOOP and at once while IDLE', async () => {
    const { store, server, client } = await withMail(2);
    await client.command('a0 SELECT INBOX');
    store.deliver('INBOX', MESSAGE(3));
    expect(await client.command('a1 NOOP')).toEqual(['* 3 EXISTS', 'a1 OK NOOP completed']);
    client.write('a2 IDLE\r\n');
    expect(await client.until(() => true)).toEqual(['+ idling']);
    store.deliver('INBOX', MESSAGE(4));
    expect(await client.until(() => true)).toEqual(['* 4 EXISTS']);
    store.setFlagsElsewhere('INBOX', 2, ['\\Flagged']);
    expect(await client.until(() => true)).toEqual(['* 2 FETCH (UID 2 FLAGS (\\Flagged))']);
    // Another session expunges: reported while IDLE too.
    const other = await server.connect();
    await other.command('b0 LOGIN alice@a.test secret');
    await other.command('b1 SELECT INBOX');
    await other.command('b2 STORE 1 +FLAGS.SILENT (\\Deleted)');
    await other.command('b3 EXPUNGE');
    expect(await client.until((l) => l.includes('EXPUNGE'))).toEqual(['* 1 FETCH (UID 1 FLAGS (\\Seen \\Deleted))', '* 1 EXPUNGE']);
    client.write('DONE\r\n');
    expect(await client.until((l) => l.startsWith('a2 '))).toEqual(['a2 OK IDLE terminated']);
    expect(await client.command('a3 UID SEARCH ALL')).toEqual(['* SEARCH 2 3 4', 'a3 OK UID SEARCH completed']);
  });

  it('NOOP and CHECK report what another session changed before them, though the feed has not brought it yet', async () => {
    const { store, server, client } = await withMail(2);
    await client.command('a0 SELECT INBOX');
    store.holdFeeds = true;
    store.deliver('INBOX', MESSAGE(3));
    expect(await client.command('a1 NOOP')).toEqual(['* 3 EXISTS', 'a1 OK NOOP completed']);
    store.setFlagsElsewhere('INBOX', 2, ['\\Flagged']);
    expect(await client.command('a2 CHECK')).toEqual(['* 2 FETCH (UID 2 FLAGS (\\Flagged))', 'a2 OK CHECK completed']);
    const other = await server.connect();
    await other.command('b0 LOGIN alice@a.test secret');
    await other.command('b1 SELECT INBOX');
    await other.command('b2 STORE 1 +FLAGS.SILENT (\\Deleted)');
    await other.command('b3 EXPUNGE');
    expect(await client.command('a3 NOOP')).toEqual(['* 1 EXPUNGE', 'a3 OK NOOP completed']);
    // The feed's late messages then change nothing that was told.
    store.releaseFeeds();
    expect(await client.command('a4 NOOP')).toEqual(['a4 OK NOOP completed']);
    expect(await client.command('a5 UID FETCH 1:* (FLAGS)')).toEqual(['* 1 FETCH (UID 2 FLAGS (\\Flagged))', '* 2 FETCH (UID 3 FLAGS ())', 'a5 OK UID FETCH completed']);
    // A store that fails: NOOP still answers OK (it has no NO); the next poll reports what it missed.
    store.failing = true;
    store.deliver('INBOX', MESSAGE(4));
    expect(await client.command('a6 NOOP')).toEqual(['a6 OK NOOP completed']);
    store.failing = false;
    expect(await client.command('a7 CHECK')).toEqual(['* 3 EXISTS', 'a7 OK CHECK completed']);
  });

  it('holds expunges back during FETCH, STORE and SEARCH by sequence number', async () => {
    const { server, client } = await withMail(2);
    await client.command('a0 SELECT INBOX');
    const other = await server.connect();
    await other.command('b0 LOGIN alice@a.test secret');
    await other.command('b1 SELECT INBOX');
    await other.command('b2 STORE 1 +FLAGS.SILENT (\\Deleted)');
    await other.command('b3 EXPUNGE');
    expect(await client.command('a1 FETCH 1:* (UID)')).toEqual(['* 1 FETCH (UID 1)', '* 2 FETCH (UID 2)', 'a1 OK FETCH completed']);
    expect(await client.command('a2 NOOP')).toEqual(['* 1 EXPUNGE', 'a2 OK NOOP completed']);
  });

  it('searches by flags, text, sets, dates, sizes and boolean combinations, with ESEARCH', async () => {
    const { client } = await withMail(3);
    await client.command('a0 SELECT INBOX');
    expect(await client.command('a1 SEARCH UNSEEN')).toEqual(['* SEARCH 2 3', 'a1 OK SEARCH completed']);
    expect(await client.command('a2 UID SEARCH SUBJECT "hello 2"')).toEqual(['* SEARCH 2', 'a2 OK UID SEARCH completed']);
    expect(await client.command('a3 SEARCH OR SEEN SUBJECT "Hello 3"')).toEqual(['* SEARCH 1 3', 'a3 OK SEARCH completed']);
    expect(await client.command('a4 SEARCH NOT 2:3')).toEqual(['* SEARCH 1', 'a4 OK SEARCH completed']);
    expect(await client.command('a5 SEARCH SINCE 23-Nov-2026 BEFORE 24-Nov-2026 LARGER 10')).toEqual(['* SEARCH 1 2 3', 'a5 OK SEARCH completed']);
    expect(await client.command('a6 SEARCH ON 1-Jan-2020')).toEqual(['* SEARCH', 'a6 OK SEARCH completed']);
    expect(await client.command('a7 SEARCH HEADER Message-ID "<m3@b.test>"')).toEqual(['* SEARCH 3', 'a7 OK SEARCH completed']);
    expect(await client.command('a8 UID SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN')).toEqual(['* ESEARCH (TAG "a8") UID MIN 2 MAX 3 ALL 2:3 COUNT 2', 'a8 OK UID SEARCH completed']);
    expect(await client.command('a9 SEARCH CHARSET UTF-8 BODY "number 1"')).toEqual(['* SEARCH 1', 'a9 OK SEARCH completed']);
    expect(await client.command('b1 SEARCH CHARSET KOI8-R ALL')).toEqual(['b1 NO [BADCHARSET (UTF-8 US-ASCII)] Charset KOI8-R is not supported']);
    expect(await client.command('b2 SEARCH BOGUS')).toEqual(['b2 BAD unknown search key "BOGUS"']);
    expect(await client.command('b3 SEARCH SINCE yesterday')).toEqual(['b3 BAD invalid date "yesterday"']);
    const modseqSearch = await client.command('b4 SEARCH MODSEQ 1');
    expect(modseqSearch[0]).toMatch(/^\* OK \[HIGHESTMODSEQ \d+\] CONDSTORE enabled$/);
    expect(modseqSearch[1]).toMatch(/^\* SEARCH 1 2 3 \(MODSEQ \d+\)$/);
  });

  it('sorts by base subject, addresses, display names, size and arrival, REVERSE per key, ties by sequence', async () => {
    const store = createFakeImapStore();
    const mail = (from: string, to: string, subject: string, body = 'x') => [`From: ${from}`, `To: ${to}`, `Subject: ${subject}`, '', body, ''].join('\r\n');
    const at = (day: number) => ({ internalDate: new Date(Date.UTC(2026, 10, day)) });
    store.deliver('INBOX', mail('Zed <a@z.test>', 'x@a.test', 'Re: [list] banana'), at(3)); // 1
    store.deliver('INBOX', mail('Amy <z@a.test>', 'y@a.test', 'apple (fwd)', 'a much longer body'), at(1)); // 2
    store.deliver('INBOX', mail('m@m.test', 'x@a.test', '[Fwd: Cherry]'), { ...at(2), flags: ['\\Seen'] }); // 3
    store.deliver('INBOX', mail('Bob <b@b.test>', 'x@a.test', 'BANANA'), at(4)); // 4
    const { client } = await signedIn(store);
    await client.command('a0 SELECT INBOX');
    expect(await client.command('a1 SORT (SUBJECT) UTF-8 ALL')).toEqual(['* SORT 2 1 4 3', 'a1 OK SORT completed']);
    expect(await client.command('a2 SORT (FROM) UTF-8 ALL')).toEqual(['* SORT 1 4 3 2', 'a2 OK SORT completed']);
    expect(await client.command('a3 SORT (DISPLAYFROM) US-ASCII ALL')).toEqual(['* SORT 2 4 3 1', 'a3 OK SORT completed']);
    expect(await client.command('a4 SORT (REVERSE ARRIVAL) UTF-8 ALL')).toEqual(['* SORT 4 1 3 2', 'a4 OK SORT completed']);
    expect(await client.command('a5 SORT (TO REVERSE SIZE) UTF-8 ALL')).toEqual(['* SORT 1 3 4 2', 'a5 OK SORT completed']);
    expect(await client.command('a6 UID SORT (SUBJECT ARRIVAL) UTF-8 UNSEEN')).toEqual(['* SORT 2 1 4', 'a6 OK UID SORT completed']);
    expect(await client.command('a7 SORT (SUBJECT) UTF-8 SUBJECT nothing-like-this')).toEqual(['* SORT', 'a7 OK SORT completed']);
    expect(await client.command('a8 SORT RETURN (MIN MAX ALL COUNT) (REVERSE ARRIVAL) UTF-8 ALL')).toEqual(['* ESEARCH (TAG "a8") MIN 4 MAX 2 ALL 4,1,3,2 COUNT 4', 'a8 OK SORT completed']);
    expect(await client.command('a9 UID SORT RETURN () (ARRIVAL) UTF-8 ALL')).toEqual(['* ESEARCH (TAG "a9") UID ALL 2:3,1,4', 'a9 OK UID SORT completed']);
    expect(await client.command('b1 SORT (SUBJECT) KOI8-R ALL')).toEqual(['b1 NO [BADCHARSET (UTF-8 US-ASCII)] Charset KOI8-R is not supported']);
    expect(await client.command('b2 SORT SUBJECT UTF-8 ALL')).toEqual(['b2 BAD SORT needs a list of sort criteria']);
    expect((await client.command('b3 CAPABILITY'))[0]).toContain(' SORT SORT=DISPLAY ESORT');
  });

  it('threads by references and by subject (THREAD, UID THREAD)', async () => {
    const store = createFakeImapStore();
    const mail = (id: string, extra: string, subject: string) => [`From: a@b.test`, `Message-ID: ${id}`, extra, `Subject: ${subject}`, '', 'x', ''].filter((l, i) => l !== '' || i > 3).join('\r\n');
    const at = (day: number) => ({ internalDate: new Date(Date.UTC(2026, 10, day)) });
    store.deliver('INBOX', mail('<p@b.test>', '', 'Plan'), at(1)); // 1
    store.deliver('INBOX', mail('<q@b.test>', '', 'Other'), at(2)); // 2
    store.deliver('INBOX', mail('<r@b.test>', 'In-Reply-To: <p@b.test>', 'Re: Plan'), { ...at(3), flags: ['\\Seen'] }); // 3
    store.deliver('INBOX', mail('<s@b.test>', 'References: <p@b.test> <r@b.test>', 'Re: Plan'), at(4)); // 4
    const { client } = await signedIn(store);
    await client.command('a0 SELECT INBOX');
    expect(await client.command('a1 THREAD REFERENCES UTF-8 ALL')).toEqual(['* THREAD (1 3 4)(2)', 'a1 OK THREAD completed']);
    expect(await client.command('a2 UID THREAD ORDEREDSUBJECT US-ASCII UNSEEN')).toEqual(['* THREAD (1 4)(2)', 'a2 OK UID THREAD completed']);
    expect(await client.command('a3 THREAD REFERENCES UTF-8 SUBJECT nothing-like-this')).toEqual(['* THREAD', 'a3 OK THREAD completed']);
    expect(await client.command('b1 THREAD REFERENCES KOI8-R ALL')).toEqual(['b1 NO [BADCHARSET (UTF-8 US-ASCII)] Charset KOI8-R is not supported']);
    expect(await client.command('b2 THREAD HEADS UTF-8 ALL')).toEqual(['b2 BAD unknown threading algorithm "HEADS"']);
    expect((await client.command('b3 CAPABILITY'))[0]).toContain(' THREAD=ORDEREDSUBJECT THREAD=REFERENCES');
  });
});

describe('IMAP4rev2 (RFC 9051) after ENABLE IMAP4rev2', () => {
  const utf8 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

  it('advertises IMAP4rev2; once enabled SELECT has no RECENT or UNSEEN but a LIST, and no message is \\Recent', async () => {
    const store = createFakeImapStore();
    for (let i = 1; i <= 2; i++) store.deliver('INBOX', MESSAGE(i), { flags: i === 1 ? ['\\Seen', '\\Deleted'] : [] });
    const inbox = store.mailbox('INBOX');
    const server = await serve(store);
    const client = await connectImap(server.ports.imap);
    expect(await client.greeting()).toMatch(/^\* OK \[CAPABILITY IMAP4rev1 IMAP4rev2 .* SEARCHRES /);
    expect(await client.command('a0 ENABLE IMAP4rev2')).toEqual(['a0 BAD ENABLE is not allowed before login']);
    expect((await client.command('l1 LOGIN alice@a.test secret')).at(-1)).toMatch(/^l1 OK/);
    expect(await client.command('a1 ENABLE IMAP4rev2')).toEqual(['* ENABLED IMAP4rev2', 'a1 OK ENABLE completed']);
    // The mailbox is found in the folder list its LIST needs, not read again.
    const finds: string[] = [];
    const find = store.services.mailboxes.find.bind(store.services.mailboxes);
    store.services.mailboxes.find = (userId, name) => {
      finds.push(name);
      return find(userId, name);
    };
    expect(await client.command('a2 SELECT INBOX')).toEqual([
      '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)',
      '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted',
      '* 2 EXISTS',
      `* OK [UIDVALIDITY ${inbox.uidvalidity}] UIDs valid`,
      '* OK [UIDNEXT 3] Predicted next UID',
      `* OK [HIGHESTMODSEQ ${inbox.highestmodseq}] Highest`,
      '* LIST (\\HasNoChildren) "/" "INBOX"',
      'a2 OK [READ-WRITE] SELECT completed',
    ]);
    expect(finds).toEqual([]);
    const raw = MESSAGE(3);
    client.write(`a3 APPEND INBOX {${raw.length}+}\r\n${raw}\r\n`);
    expect(await client.until((l) => l.startsWith('a3 '))).toEqual(['* 3 EXISTS', `a3 OK [APPENDUID ${inbox.uidvalidity} 3] APPEND completed`]);
    expect(await client.command('a4 FETCH 3 (FLAGS)')).toEqual(['* 3 FETCH (FLAGS ())', 'a4 OK FETCH completed']);
    expect(await client.command('a5 STATUS INBOX (MESSAGES DELETED SIZE)')).toEqual([
      `* STATUS "INBOX" (MESSAGES 3 DELETED 1 SIZE ${store.messages('INBOX').reduce((sum, m) => sum + m.size, 0)})`,
      'a5 OK STATUS completed',
    ]);
    finds.length = 0;
    expect((await client.command('a6 EXAMINE inbox')).at(-1)).toBe('a6 OK [READ-ONLY] EXAMINE completed');
    expect(await client.command('a7 SELECT Nope')).toEqual(['* OK [CLOSED] Previous mailbox closed', 'a7 NO [NONEXISTENT] No such mailbox']);
    expect(finds).toEqual([]);
    // The rev2 session claimed nothing: a rev1 session still gets the appended message as \Recent.
    const rev1 = await server.connect();
    await rev1.command('b0 LOGIN alice@a.test secret');
    const selected = await rev1.command('b1 SELECT INBOX');
    expect(selected).toContain('* 1 RECENT');
    expect(selected).toContain('* OK [UNSEEN 2] First unseen');
    expect(selected.some((l) => l.startsWith('* LIST'))).toBe(false);
  });

  it('answers SEARCH with ESEARCH, and saves a result for $ (SEARCHRES) in FETCH, STORE, SEARCH and MOVE', async () => {
    const store = createFakeImapStore();
    for (let i = 1; i <= 3; i++) store.deliver('INBOX', MESSAGE(i), { flags: i === 1 ? ['\\Seen'] : [] });
    const { client } = await signedIn(store);
    await client.command('a0 ENABLE IMAP4rev2');
    await client.command('a1 SELECT INBOX');
    expect(await client.command('b1 SEARCH UNSEEN')).toEqual(['* ESEARCH (TAG "b1") ALL 2:3', 'b1 OK SEARCH completed']);
    expect(await client.command('b2 UID SEARCH SUBJECT nothing-like-this')).toEqual(['* ESEARCH (TAG "b2") UID', 'b2 OK UID SEARCH completed']);
    expect(await client.command('b3 SEARCH RETURN (SAVE) UNSEEN')).toEqual(['b3 OK SEARCH completed']);
    expect(await client.command('b4 FETCH $ (UID)')).toEqual(['* 2 FETCH (UID 2)', '* 3 FETCH (UID 3)', 'b4 OK FETCH completed']);
    // With MIN (or MAX) alone, only that message is saved (RFC 5182 2.4).
    expect(await client.command('b5 UID SEARCH RETURN (SAVE MIN) UNSEEN')).toEqual(['* ESEARCH (TAG "b5") UID MIN 2', 'b5 OK UID SEARCH completed']);
    expect(await client.command('b6 STORE $ +FLAGS (\\Flagged)')).toEqual(['* 2 FETCH (FLAGS (\\Flagged))', 'b6 OK STORE completed']);
    expect(await client.command('b7 UID SEARCH UID $ FLAGGED')).toEqual(['* ESEARCH (TAG "b7") UID ALL 2', 'b7 OK UID SEARCH completed']);
    expect(await client.command('b8 SEARCH RETURN (SAVE COUNT) OR $ SEEN')).toEqual(['* ESEARCH (TAG "b8") COUNT 2', 'b8 OK SEARCH completed']);
    const archive = store.mailbox('Archive');
    expect(await client.command('b9 MOVE $ Archive')).toEqual([`* OK [COPYUID ${archive.uidvalidity} 1:2 1:2] Moved`, '* 2 EXPUNGE', '* 1 EXPUNGE', 'b9 OK MOVE completed']);
    // Moved away: $ names nothing now.
    expect(await client.command('c1 UID FETCH $ (FLAGS)')).toEqual(['c1 OK UID FETCH completed']);
    expect(await client.command('c2 FETCH 1,$ (UID)')).toEqual(['c2 BAD invalid sequence set "1,$"']);
    // A failed SEARCH (SAVE) leaves $ empty (RFC 5182 2.1).
    await client.command('c3 SEARCH RETURN (SAVE) ALL');
    expect(await client.command('c4 SEARCH RETURN (SAVE) BOGUS')).toEqual(['c4 BAD unknown search key "BOGUS"']);
    expect(await client.command('c5 FETCH $ (UID)')).toEqual(['c5 OK FETCH completed']);
    // A new SELECT starts with $ empty; rev1 sessions have SEARCHRES too (and keep SEARCH answers).
    const { client: rev1 } = await signedIn(store);
    await rev1.command('d0 SELECT INBOX');
    expect(await rev1.command('d1 SEARCH RETURN (SAVE) ALL')).toEqual(['d1 OK SEARCH completed']);
    expect(await rev1.command('d2 UID FETCH $ (FLAGS)')).toEqual(['* 1 FETCH (UID 3 FLAGS ())', 'd2 OK UID FETCH completed']);
    expect(await rev1.command('d3 SEARCH $')).toEqual(['* SEARCH 1', 'd3 OK SEARCH completed']);
    await rev1.command('d4 SELECT INBOX');
    expect(await rev1.command('d5 FETCH $ (UID)')).toEqual(['d5 OK FETCH completed']);
    expect(await rev1.command('d6 SORT RETURN (SAVE) (ARRIVAL) UTF-8 ALL')).toEqual(['d6 BAD unknown RETURN option SAVE']);
    // IMAP4rev2 is enabled only before a mailbox is selected (RFC 9051 6.3.1).
    expect(await rev1.command('d7 ENABLE IMAP4rev2')).toEqual(['* ENABLED', 'd7 OK ENABLE completed']);
    expect(await rev1.command('d8 SEARCH ALL')).toEqual(['* SEARCH 1', 'd8 OK SEARCH completed']);
  });

  it('speaks UTF-8 mailbox names, lists a missing parent as \\NonExistent and refuses DELETE of a parent with HASCHILDREN', async () => {
    const store = createFakeImapStore();
    const server = await serve(store);
    const client = await server.connect();
    await client.command('l1 LOGIN alice@a.test secret');
    await client.command('a0 ENABLE IMAP4rev2');
    client.write(Buffer.from('a1 CREATE "Été & Co/Juin"\r\n', 'utf8'));
    expect(await client.until((l) => l.startsWith('a1 '))).toEqual(['a1 OK CREATE completed']);
    expect(store.mailbox('Été & Co/Juin').name).toBe('Été & Co/Juin');
    expect(await client.command('a2 LIST "" "%"')).toContain(utf8('* LIST (\\NonExistent \\HasChildren) "/" "Été & Co"'));
    client.write(Buffer.from('a3 LIST "" "Été*"\r\n', 'utf8'));
    expect(await client.until((l) => l.startsWith('a3 '))).toEqual([utf8('* LIST (\\HasNoChildren) "/" "Été & Co/Juin"'), 'a3 OK LIST completed']);
    client.write(Buffer.from('a4 STATUS "Été & Co/Juin" (MESSAGES)\r\n', 'utf8'));
    expect(await client.until((l) => l.startsWith('a4 '))).toEqual([utf8('* STATUS "Été & Co/Juin" (MESSAGES 0)'), 'a4 OK STATUS completed']);
    client.write(Buffer.from([...Buffer.from('a5 CREATE "bad'), 0xff, ...Buffer.from('"\r\n')]));
    expect(await client.until((l) => l.startsWith('a5 '))).toEqual(['a5 NO [CANNOT] a mailbox name must be UTF-8']);
    for (const name of ['Work', 'Work/Old']) await client.command(`b0 CREATE ${name}`);
    expect(await client.command('b1 DELETE Work')).toEqual(['b1 NO [HASCHILDREN] The folder has subfolders: delete or move them first']);
    // A rev1 session sees the same folders in modified UTF-7, and the RFC 5530 code.
    const rev1 = await server.connect();
    await rev1.command('l2 LOGIN alice@a.test secret');
    expect(await rev1.command('c1 LIST "" "&AMk-*"')).toEqual(['* LIST (\\HasNoChildren) "/" "&AMk-t&AOk- &- Co/Juin"', 'c1 OK LIST completed']);
    expect(await rev1.command('c2 LIST "" "%"')).toContain('* LIST (\\Noselect \\HasChildren) "/" "&AMk-t&AOk- &- Co"');
    expect(await rev1.command('c3 DELETE Work')).toEqual(['c3 NO [INUSE] The folder has subfolders: delete or move them first']);
  });
});
