import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingDb, createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import type { UserEvent } from '../contracts/events.js';
import type { EventPublisher } from '../events/publisher.js';
import { silentLogger } from '../log/logger.js';
import { createSpoolRepository } from '../repositories/spool.repository.js';
import { summarizeMessage } from '../mail/parse.js';
import { commitSpoolFilings, fileSpooled, type SpoolFiling } from './spool-filer.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;
const published: Array<{ userId: number; event: UserEvent }> = [];
const events: EventPublisher = { publish: async (userId, event) => void published.push({ userId, event }) };
/** The message.new events published since `index` (each filing also sends a mailbox.counts hint). */
const newMessageEvents = (index: number) => published.slice(index).filter((p) => p.event.type === 'message.new');
const log = silentLogger();
const deps = () => ({ db: store.db, events, log });

let alice: number;
let bob: number;

const crlf = (text: string) => Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'utf8');
const bytes = (...parts: Array<string | Buffer>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? crlf(p) : p)));
const b64 = (buf: Buffer) => buf.toString('base64');

// Test texts in legacy charsets, as bytes (no encoder library needed to read the test).
const KOI8R_PRIVET_MIR = Buffer.from('f0d2c9d7c5d420cdc9d2', 'hex'); // "Привет мир"
const KOI8R_TELO = Buffer.from('d4c5cccf', 'hex'); // "тело"
const SJIS_KONNICHIWA = Buffer.from('82b182f182c982bf82cd', 'hex'); // "こんにちは"
const SJIS_SEKAI_NO_HONBUN = Buffer.from('90a28a4582cc967b95b6', 'hex'); // "世界の本文"
const JIS_KONNICHIWA = Buffer.from('1b244224332473244b2441244f1b2842', 'hex'); // "こんにちは" in ISO-2022-JP
const JIS_SEKAI_NO_HONBUN = Buffer.from('1b244240243326244e4b5c4a381b2842', 'hex'); // "世界の本文" in ISO-2022-JP
const LATIN1_GRUESSE = Buffer.from('4772fcdf6520617573204bf66c6e', 'hex'); // "Grüße aus Köln"

async function spool(raw: Buffer, rcptTo: string[] = ['alice@in.test']): Promise<number> {
  const [id] = await createSpoolRepository(store.db).insertMany([{ raw, mailFrom: 'sender@remote.test', rcptTo, remoteIp: '192.0.2.1', helo: 'remote.test', tls: false, traceHeaders: '' }]);
  return id!;
}

/** Every message filed from one spool row, with the mailbox it landed in. */
async function filingsOf(spoolId: number) {
  return store.db
    .selectFrom('messages')
    .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
    .select([
      'messages.id', 'messages.user_id', 'mailboxes.special_use', 'messages.subject', 'messages.snippet', 'messages.body_text', 'messages.from_json', 'messages.to_json',
      'messages.sent_date', 'messages.message_id_header', 'messages.references', 'messages.attachments', 'messages.has_attachments', 'messages.blob_hash', 'messages.size',
    ])
    .where('messages.spool_id', '=', spoolId)
    .orderBy('messages.id')
    .execute();
}

async function spoolRow(spoolId: number) {
  return store.db.selectFrom('spool').select(['status', 'error', 'attempts']).where('id', '=', spoolId).executeTakeFirstOrThrow();
}

async function storedBytes(hash: Buffer): Promise<Buffer> {
  const row = await store.db.selectFrom('blobs').select('data').where('hash', '=', hash).executeTakeFirstOrThrow();
  return row.data;
}

/**
 * Spools `raw` for alice, runs the job, and checks the invariants every accepted message must
 * meet: filed exactly once into alice's INBOX, the row done, one message.new event, the raw
 * bytes kept as they came. Returns the filed message for case-specific checks.
 */
async function fileForAlice(raw: Buffer) {
  const spoolId = await spool(raw);
  const eventsBefore = published.length;
  const outcome = await fileSpooled(deps(), spoolId);
  expect(outcome).toEqual({ status: 'filed', filed: 1, unresolved: [] });

  const filed = await filingsOf(spoolId);
  expect(filed).toHaveLength(1);
  const message = filed[0]!;
  expect(message.user_id).toBe(alice);
  expect(message.special_use).toBe('\\Inbox');
  expect(await spoolRow(spoolId)).toMatchObject({ status: 'done', error: null });
  expect(newMessageEvents(eventsBefore)).toEqual([{ userId: alice, event: expect.objectContaining({ type: 'message.new', messageId: message.id }) }]);
  expect((await storedBytes(message.blob_hash)).equals(raw)).toBe(true);
  expect(message.size).toBe(raw.length);
  for (const text of [message.subject, message.snippet, message.body_text]) expect(text).not.toContain('\u0000');
  return message;
}

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('in.test');
  alice = (await accounts.addUser({ address: 'alice@in.test', password: 'correct horse' })).id;
  bob = (await accounts.addUser({ address: 'bob@in.test', password: 'correct horse' })).id;
  await accounts.addAlias('team@in.test', 'alice@in.test');
});
afterAll(async () => {
  await store.drop();
});

describe('fileSpooled: hostile and unusual mail is filed with whatever can be read, never thrown away', () => {
  it('files a message without a To header, with an empty recipient list', async () => {
    const m = await fileForAlice(bytes('From: Sender <sender@remote.test>\nSubject: no to\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n\nhello without to\n'));
    expect(m.to_json).toEqual([]);
    expect(m.from_json).toEqual([{ name: 'Sender', address: 'sender@remote.test' }]);
    expect(m.subject).toBe('no to');
    expect(m.snippet).toBe('hello without to');
  });

  it('files a message without a From header, with an empty sender list', async () => {
    const m = await fileForAlice(bytes('To: alice@in.test\nSubject: no from\n\nhello without from\n'));
    expect(m.from_json).toEqual([]);
    expect(m.to_json).toEqual([{ name: '', address: 'alice@in.test' }]);
    expect(m.subject).toBe('no from');
  });

  it('files a message without a Subject header, with an empty subject', async () => {
    const m = await fileForAlice(bytes('From: sender@remote.test\nTo: alice@in.test\n\nhello without subject\n'));
    expect(m.subject).toBe('');
    expect(m.snippet).toBe('hello without subject');
  });

  it('files a message without a Date header, with no sent date', async () => {
    const m = await fileForAlice(bytes('From: sender@remote.test\nSubject: no date\n\nundated\n'));
    expect(m.sent_date).toBeNull();
    expect(m.subject).toBe('no date');
  });

  it('files a message that has no header block at all, reading it all as body', async () => {
    const m = await fileForAlice(bytes('Just a body, nobody wrote headers.\nSecond line of the body.\n'));
    expect(m.subject).toBe('');
    expect(m.from_json).toEqual([]);
    expect(m.snippet).toBe('Just a body, nobody wrote headers. Second line of the body.');
  });

  it('files a message whose header block is empty (it starts with the blank line)', async () => {
    const m = await fileForAlice(bytes('\nonly a body after an empty header block\n'));
    expect(m.subject).toBe('');
    expect(m.snippet).toBe('only a body after an empty header block');
  });

  it('files attachments that have no filename, recording them with a null name', async () => {
    const m = await fileForAlice(
      bytes(
        'From: sender@remote.test\nSubject: nameless parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B0"\n\n',
        '--B0\nContent-Type: text/plain; charset=utf-8\n\nsee the attached files\n',
        '--B0\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAECAwQ=\n',
        '--B0\nContent-Type: image/png\nContent-Disposition: attachment\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n',
        '--B0--\n',
      ),
    );
    expect(m.has_attachments).toBe(true);
    expect(m.attachments).toHaveLength(2);
    expect(m.attachments.map((a) => a.filename)).toEqual([null, null]);
    expect(m.attachments.map((a) => a.contentType)).toEqual(['application/octet-stream', 'image/png']);
    expect(m.attachments[0]!.size).toBe(5);
    expect(m.snippet).toBe('see the attached files');
  });

  it('files a message in an unknown charset, keeping its ASCII text readable', async () => {
    const m = await fileForAlice(
      bytes('From: sender@remote.test\nSubject: =?x-unknown-42?Q?odd?= charset\nContent-Type: text/plain; charset=x-unknown-42\nContent-Transfer-Encoding: 8bit\n\nplain words ', Buffer.from([0xa4, 0xe9, 0xff]), ' more words\n'),
    );
    expect(m.snippet).toMatch(/^plain words .* more words$/);
    expect(m.subject).toMatch(/charset$/);
  });

  it('decodes ISO-8859-1 subject and body', async () => {
    const m = await fileForAlice(
      bytes('From: sender@remote.test\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=\nContent-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: 8bit\n\n', LATIN1_GRUESSE, '\n'),
    );
    expect(m.subject).toBe('Grüße aus Köln');
    expect(m.snippet).toBe('Grüße aus Köln');
  });

  it('decodes KOI8-R subject and body', async () => {
    const m = await fileForAlice(
      bytes(`From: sender@remote.test\nSubject: =?KOI8-R?B?${b64(KOI8R_PRIVET_MIR)}?=\nContent-Type: text/plain; charset=KOI8-R\nContent-Transfer-Encoding: 8bit\n\n`, KOI8R_PRIVET_MIR, ' ', KOI8R_TELO, '\n'),
    );
    expect(m.subject).toBe('Привет мир');
    expect(m.snippet).toBe('Привет мир тело');
  });

  it('decodes Shift_JIS subject and body', async () => {
    const m = await fileForAlice(
      bytes(`From: sender@remote.test\nSubject: =?Shift_JIS?B?${b64(SJIS_KONNICHIWA)}?=\nContent-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: 8bit\n\n`, SJIS_SEKAI_NO_HONBUN, '\n'),
    );
    expect(m.subject).toBe('こんにちは');
    expect(m.snippet).toBe('世界の本文');
  });

  it('decodes ISO-2022-JP subject and body', async () => {
    const m = await fileForAlice(
      bytes(`From: sender@remote.test\nSubject: =?ISO-2022-JP?B?${b64(JIS_KONNICHIWA)}?=\nContent-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit\n\n`, JIS_SEKAI_NO_HONBUN, '\n'),
    );
    expect(m.subject).toBe('こんにちは');
    expect(m.snippet).toBe('世界の本文');
  });

  it('decodes RFC 2047 encoded words: B and Q, mixed with plain text, and a character split across two words', async () => {
    const m = await fileForAlice(bytes('From: =?UTF-8?Q?J=C3=A9r=C3=B4me?= <j@remote.test>\nSubject: =?UTF-8?B?w4RwZmVs?= und =?UTF-8?Q?Birnen_?= =?UTF-8?Q?=E2=82?= =?UTF-8?Q?=AC?=\n\nbody\n'));
    expect(m.subject).toBe('Äpfel und Birnen €');
    expect(m.from_json).toEqual([{ name: 'Jérôme', address: 'j@remote.test' }]);
  });

  it('files a multipart whose closing boundary is missing, with the parts that could be read', async () => {
    const m = await fileForAlice(
      bytes(
        'From: sender@remote.test\nSubject: truncated multipart\nContent-Type: multipart/mixed; boundary="XX"\n\n',
        '--XX\nContent-Type: text/plain\n\nthe first part survived\n',
        '--XX\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA\n',
      ),
    );
    expect(m.subject).toBe('truncated multipart');
    expect(m.snippet).toBe('the first part survived');
    expect(m.has_attachments).toBe(true);
  });

  it('files a multipart whose boundary never appears, keeping the body text', async () => {
    const m = await fileForAlice(bytes('From: sender@remote.test\nSubject: boundary nowhere\nContent-Type: multipart/mixed; boundary="NEVER-SEEN"\n\nthe text that sits where the parts should be\n'));
    expect(m.subject).toBe('boundary nowhere');
    expect(m.snippet).toBe('the text that sits where the parts should be');
  });

  it('files a message with a 200 KB header block, keeping a bounded subject', async () => {
    // Varied (incompressible) text, as spam and broken mailers produce: index entries must not overflow.
    const noise = (n: number) => randomBytes(n).toString('base64url').slice(0, n);
    const filler = Array.from({ length: 150 }, (_, i) => `X-Filler-${i}: ${noise(900)}`).join('\n');
    const longSubject = Array.from({ length: 3000 }, (_, i) => `wörd${i}-${noise(6)}`).join(' ');
    const references = Array.from({ length: 300 }, () => `<${noise(40)}@refs.remote.test>`).join('\n ');
    const longId = `<${noise(990)}@remote.test>`;
    const raw = bytes(`From: sender@remote.test\nSubject: ${longSubject}\nMessage-ID: ${longId}\nIn-Reply-To: <${noise(900)}@x.test>\nReferences: ${references}\n${filler}\n\nbody after huge headers\n`);
    expect(raw.indexOf('\r\n\r\n')).toBeGreaterThan(200 * 1024);
    const m = await fileForAlice(raw);
    expect(m.subject.length).toBeGreaterThan(0);
    expect(m.subject.length).toBeLessThanOrEqual(2000);
    expect(longSubject.startsWith(m.subject)).toBe(true);
    expect(m.snippet).toBe('body after huge headers');
  });

  it('files a message with a huge subject in a multi-byte script without overflowing any index', async () => {
    const cjk = Array.from({ length: 20_000 }, (_, i) => String.fromCodePoint(0x4e00 + ((i * 7919) % 20_000))).join('');
    const m = await fileForAlice(bytes(`From: sender@remote.test\nSubject: ${cjk}\nMessage-ID: <${cjk.slice(0, 990)}@remote.test>\n\nbody\n`));
    expect(m.subject.length).toBeGreaterThan(0);
    expect(cjk.startsWith(m.subject)).toBe(true);
  });

  it('files a message with NUL bytes in headers and body, dropping the NULs from what it indexes', async () => {
    const m = await fileForAlice(
      bytes(
        'From: Se\0nder <sen\0der@remote.test>\nTo: ali\0ce@in.test\nSubject: nul\0 in subject\nMessage-ID: <nul\0id@remote.test>\nReferences: <r\0ef@remote.test>\n',
        'Content-Type: multipart/mixed; boundary="N"\n\n--N\nContent-Type: text/plain\n\nbody\0 with nul\n',
        '--N\nContent-Type: application/octet-stream; name="fi\0le.bin"\nContent-Disposition: attach\0ment; filename="fi\0le.bin"\nContent-ID: <c\0id@x>\n\nbin\0ary\n--N--\n',
      ),
    );
    expect(m.subject).toBe('nul in subject');
    expect(m.snippet).toBe('body with nul');
    expect(JSON.stringify([m.from_json, m.to_json, m.attachments, m.message_id_header, m.references])).not.toContain('\\u0000');
  });

  it('files a message with an unparseable Date header, with no sent date rather than a made-up one', async () => {
    const m = await fileForAlice(bytes('From: sender@remote.test\nSubject: bad date\nDate: the day after tomorrow, probably\n\nbody\n'));
    expect(m.sent_date).toBeNull();
  });

  it('files a message dated in the year 30000, with no sent date', async () => {
    const m = await fileForAlice(bytes('From: sender@remote.test\nSubject: far future\nDate: Mon, 1 Jan 30000 00:00:00 +0000\n\nbody\n'));
    expect(m.sent_date).toBeNull();
  });

  it('keeps a valid Date header as the sent date', async () => {
    const m = await fileForAlice(bytes('From: sender@remote.test\nSubject: dated\nDate: Mon, 23 Nov 2026 10:00:00 +0100\n\nbody\n'));
    expect(m.sent_date).toEqual(new Date('2026-11-23T09:00:00Z'));
  });

  it('files a message with raw UTF-8 (SMTPUTF8) bytes in its headers, decoding them', async () => {
    const m = await fileForAlice(bytes('From: Jérôme <jerome@remote.test>\nSubject: café 日本\n\nbody\n'));
    expect(m.subject).toBe('café 日本');
    expect(m.from_json).toEqual([{ name: 'Jérôme', address: 'jerome@remote.test' }]);
  });

  it('files a message with raw 8-bit non-UTF-8 bytes in its headers, keeping the readable part', async () => {
    const m = await fileForAlice(bytes('From: sender@remote.test\nSubject: caf', Buffer.from([0xe9, 0x20, 0xff, 0xfe, 0x80]), ' end\n\nbody\n'));
    expect(m.subject.startsWith('caf')).toBe(true);
    expect(m.subject.endsWith(' end')).toBe(true);
    expect(m.snippet).toBe('body');
  });
});

describe('fileSpooled: recipients and repetition', () => {
  it('files one copy per user when several RCPTs (alias, direct address, plus-tag) reach that user', async () => {
    const raw = bytes('From: sender@remote.test\nTo: team@in.test\nSubject: one copy each\n\nbody\n');
    const spoolId = await spool(raw, ['team@in.test', 'alice@in.test', 'alice+news@in.test', 'ALICE@in.test', 'bob@in.test']);
    const eventsBefore = published.length;
    const outcome = await fileSpooled(deps(), spoolId);
    expect(outcome).toEqual({ status: 'filed', filed: 2, unresolved: [] });
    const filed = await filingsOf(spoolId);
    expect(filed.map((m) => m.user_id).sort()).toEqual([alice, bob].sort());
    expect(filed.every((m) => m.special_use === '\\Inbox')).toBe(true);
    const newEvents = newMessageEvents(eventsBefore);
    expect(newEvents.map((e) => e.userId).sort()).toEqual([alice, bob].sort());
    for (const m of filed) expect(newEvents).toContainEqual({ userId: m.user_id, event: expect.objectContaining({ type: 'message.new', messageId: m.id }) });
  });

  it('files nothing new when the job runs again, and the row stays done', async () => {
    const spoolId = await spool(bytes('From: sender@remote.test\nSubject: run twice\n\nbody\n'), ['alice@in.test', 'bob@in.test']);
    expect(await fileSpooled(deps(), spoolId)).toMatchObject({ status: 'filed', filed: 2 });
    const first = await filingsOf(spoolId);
    const eventsBefore = published.length;
    expect(await fileSpooled(deps(), spoolId)).toEqual({ status: 'already-done', filed: 0, unresolved: [] });
    expect(await filingsOf(spoolId)).toEqual(first);
    // Only the same message.new again (see the next test), nothing new.
    expect(newMessageEvents(eventsBefore).map((e) => (e.event.type === 'message.new' ? e.event.messageId : -1)).sort()).toEqual(first.map((m) => m.id).sort());
    expect((await spoolRow(spoolId)).status).toBe('done');
  });

  it('announces the filings of a row already done again when its job runs again (a worker killed between its commit and its publish)', async () => {
    const spoolId = await spool(bytes('From: sender@remote.test\nSubject: never announced\n\nbody\n'), ['alice@in.test', 'bob@in.test']);
    // The commit happens; the publish does not reach anyone (as if the worker died right after its commit).
    const silent: EventPublisher = { publish: async () => Promise.reject(new Error('killed')) };
    expect(await fileSpooled({ ...deps(), events: silent }, spoolId)).toMatchObject({ status: 'filed', filed: 2 });
    expect((await spoolRow(spoolId)).status).toBe('done');
    const eventsBefore = published.length;
    expect(await fileSpooled(deps(), spoolId, 2)).toEqual({ status: 'already-done', filed: 0, unresolved: [] });
    const filed = await filingsOf(spoolId);
    expect(filed).toHaveLength(2);
    const again = newMessageEvents(eventsBefore);
    expect(again).toHaveLength(2);
    for (const m of filed) expect(again).toContainEqual({ userId: m.user_id, event: expect.objectContaining({ type: 'message.new', messageId: m.id }) });
    expect(await filingsOf(spoolId)).toEqual(filed);
  });

  it('files each user once when three runs of the same job race, and the row ends done', async () => {
    const spoolId = await spool(bytes('From: sender@remote.test\nSubject: racing jobs\n\nbody\n'), ['alice@in.test', 'bob@in.test']);
    const eventsBefore = published.length;
    const outcomes = await Promise.all([fileSpooled(deps(), spoolId), fileSpooled(deps(), spoolId), fileSpooled(deps(), spoolId)]);
    for (const outcome of outcomes) expect(['filed', 'already-done']).toContain(outcome.status);
    const filed = await filingsOf(spoolId);
    expect(filed.map((m) => m.user_id).sort()).toEqual([alice, bob].sort());
    // A run that finds the filing made by another publishes its message.new again (it cannot know
    // that the other lived to publish): each filing is announced at least once, nothing else is.
    const newEvents = newMessageEvents(eventsBefore);
    expect(newEvents.length).toBeGreaterThanOrEqual(2);
    expect([...new Set(newEvents.map((e) => (e.event.type === 'message.new' ? e.event.messageId : -1)))].sort()).toEqual(filed.map((m) => m.id).sort());
    expect(await spoolRow(spoolId)).toMatchObject({ status: 'done', error: null });
    const inboxCounts = await store.db.selectFrom('mailboxes').select(['user_id', 'message_count']).where('special_use', '=', '\\Inbox').where('user_id', 'in', [alice, bob]).execute();
    const countedRows = await store.db.selectFrom('messages').select(['user_id', (eb) => eb.fn.countAll<string>().as('n')]).where('user_id', 'in', [alice, bob]).groupBy('user_id').execute();
    for (const box of inboxCounts) expect(Number(countedRows.find((r) => r.user_id === box.user_id)?.n)).toBe(box.message_count);
  });

  it('records a recipient removed after acceptance in the row note, and still files for the others', async () => {
    const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
    await accounts.addUser({ address: 'dave@in.test', password: 'correct horse' });
    const spoolId = await spool(bytes('From: sender@remote.test\nSubject: dave left\n\nbody\n'), ['alice@in.test', 'dave@in.test', 'bob@in.test']);
    await accounts.removeUser('dave@in.test');

    const outcome = await fileSpooled(deps(), spoolId);
    expect(outcome).toEqual({ status: 'filed', filed: 2, unresolved: ['dave@in.test'] });
    expect((await filingsOf(spoolId)).map((m) => m.user_id).sort()).toEqual([alice, bob].sort());
    const row = await spoolRow(spoolId);
    expect(row.status).toBe('done');
    expect(row.error).toContain('dave@in.test');
    expect(row.error).not.toContain('alice@in.test');
  });

  it('marks the row done in the transaction that files it (one commit: never filed yet pending, never done yet unfiled)', async () => {
    const spoolId = await spool(bytes('From: sender@remote.test\nSubject: one commit\n\nbody\n'), ['alice@in.test', 'bob@in.test']);
    expect(await fileSpooled(deps(), spoolId)).toMatchObject({ status: 'filed', filed: 2 });
    // xmin: the transaction that wrote each row version.
    const { rows } = await sql<{ xmin: string }>`
      SELECT xmin::text FROM spool WHERE id = ${spoolId}
      UNION ALL SELECT xmin::text FROM spool_filings WHERE spool_id = ${spoolId}
      UNION ALL SELECT xmin::text FROM messages WHERE spool_id = ${spoolId}`.execute(store.db);
    expect(rows).toHaveLength(5);
    expect(new Set(rows.map((r) => r.xmin)).size).toBe(1);
    expect(await spoolRow(spoolId)).toMatchObject({ status: 'done', error: null, attempts: 1 });
  });

  it('reports a spool row that does not exist as missing, without throwing', async () => {
    expect(await fileSpooled(deps(), 987_654_321)).toEqual({ status: 'missing', filed: 0, unresolved: [] });
  });

  it('tells onParsed once, before the commit and with the row\'s bytes let go; once too for a row with nothing to parse or commit', async () => {
    const id = await spool(bytes('From: a@remote.test\nSubject: parsed\n\nbody\n'));
    const seen: string[] = [];
    let loaded: { raw: Buffer | null } | null = null;
    const outcome = await fileSpooled(
      {
        ...deps(),
        load: async (spoolId) => (loaded = (await createSpoolRepository(store.db).getManyWithBlobs([spoolId])).get(spoolId) ?? null),
        commit: async (filing) => {
          seen.push(`commit ${filing.inputs.length}`);
          await commitSpoolFilings(deps(), [filing]);
        },
      },
      id,
      1,
      () => seen.push(`parsed, bytes ${loaded?.raw === null ? 'let go' : 'held'}`),
    );
    expect(outcome).toMatchObject({ status: 'filed', filed: 1 });
    expect(seen).toEqual(['parsed, bytes let go', 'commit 1']);

    const missing: string[] = [];
    await fileSpooled(deps(), 987_654_322, 1, () => missing.push('parsed'));
    const done: string[] = [];
    await fileSpooled(deps(), id, 2, () => done.push('parsed'));
    expect([missing, done]).toEqual([['parsed'], ['parsed']]);
  });

  it('stores the raw bytes byte-for-byte: bare LFs, 8-bit bytes, NULs, trailing whitespace, no final newline', async () => {
    const raw = Buffer.concat([
      Buffer.from('From: sender@remote.test\r\nSubject: exact bytes \t\r\nX-Mixed: bare lf follows\n', 'latin1'),
      Buffer.from([0x58, 0x2d, 0x38, 0x3a, 0x20, 0xe9, 0xff, 0x00, 0x0d, 0x0a]), // "X-8: \xe9\xff\0"
      Buffer.from('\r\nline one  \r\n\r\n\r\n', 'latin1'),
      randomBytes(512),
      Buffer.from('\r\n.\r\n..\r\nno final newline', 'latin1'),
    ]);
    const m = await fileForAlice(raw);
    const stored = await storedBytes(m.blob_hash);
    expect(stored.length).toBe(raw.length);
    expect(stored.equals(raw)).toBe(true);
  });
});

describe('commitSpoolFilings: the rows filed together share one transaction', () => {
  /** A filing of a fresh spool row for `users` (each gets an INBOX copy). */
  async function filingFor(subject: string, users: number[]): Promise<SpoolFiling> {
    const raw = bytes(`From: sender@remote.test\nSubject: ${subject}\n\nbody\n`);
    const spoolId = await spool(raw);
    const summary = await summarizeMessage(raw);
    const inputs = users.map((userId) => ({ userId, mailbox: { specialUse: '\\Inbox' as const }, content: { raw }, summary, spoolId }));
    return { inputs, done: { id: spoolId, note: null, attempts: 2 } };
  }

  it('files and marks done any number of rows in the statements of one (no statement per row, no commit of its own for the marks)', async () => {
    const counted = countingDb(store.db);
    await commitSpoolFilings({ ...deps(), db: counted.db }, [await filingFor('alone', [alice])]);
    const one = counted.count();
    const batch = [await filingFor('batch 1', [alice]), await filingFor('batch 2', [bob]), await filingFor('batch 3', [alice, bob]), await filingFor('batch 4', [bob])];
    counted.reset();
    await commitSpoolFilings({ ...deps(), db: counted.db }, batch);
    expect(counted.count()).toBe(one);
    const ids = batch.map((f) => f.done.id);
    const { rows } = await sql<{ xmin: string }>`
      SELECT xmin::text FROM spool WHERE id = ANY(${ids}::bigint[]) UNION ALL SELECT xmin::text FROM messages WHERE spool_id = ANY(${ids}::bigint[])`.execute(store.db);
    expect(rows).toHaveLength(4 + 5);
    expect(new Set(rows.map((r) => r.xmin)).size).toBe(1);
    for (const id of ids) expect(await spoolRow(id)).toEqual({ status: 'done', error: null, attempts: 2 });
  });

  it('leaves every row of a failed batch pending with nothing filed (the filings and the marks commit or roll back together)', async () => {
    const good = await filingFor('rolled back 1', [alice]);
    const bad = await filingFor('rolled back 2', [bob]);
    bad.inputs[0]!.mailbox = { id: 987_654_321 };
    await expect(commitSpoolFilings(deps(), [good, bad])).rejects.toThrow();
    for (const f of [good, bad]) {
      expect((await spoolRow(f.done.id)).status).toBe('pending');
      expect(await filingsOf(f.done.id)).toEqual([]);
    }
  });

  it('marks a row with no local recipient left done, filing nothing', async () => {
    const spoolId = await spool(bytes('From: sender@remote.test\nSubject: nobody left\n\nbody\n'), ['gone@in.test']);
    expect(await fileSpooled(deps(), spoolId, 3)).toEqual({ status: 'filed', filed: 0, unresolved: ['gone@in.test'] });
    expect(await spoolRow(spoolId)).toEqual({ status: 'done', error: 'no longer local: gone@in.test', attempts: 3 });
    expect(await filingsOf(spoolId)).toEqual([]);
  });
});
