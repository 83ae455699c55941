import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { testSecrets } from '../../../tests/helpers/secrets.js';
import { createAccountsService } from '../accounts/accounts.service.js';
import { createLogger } from '../log/logger.js';
import { copyMessages, createMailbox, deleteMessages, ingestMessage, moveMessages, writeMailboxes } from '../mail/mailbox-writer/index.js';
import { summarizeMessage } from '../mail/parse.js';
import { parseSearchQuery } from '../mail/search-query.js';
import { startSearchIndexer } from '../search/search-indexer.js';
import { createSearchIndexRepository } from './search-index.repository.js';
import { createSearchRepository } from './search.repository.js';

/**
 * The search index stage (migration 0026): filing queues a message, a pass or a search indexes it,
 * moves and deletes keep the index in step, also with an indexer in progress.
 */
let store: TestStore;
let userId: number;
const events = { publish: async () => undefined };
const log = createLogger({ name: 'test', level: 'silent' });

async function deliver(subject: string, body = 'nothing special'): Promise<number> {
  const raw = Buffer.from(`From: Ann <ann@remote.test>\r\nTo: ix@ix.test\r\nSubject: ${subject}\r\n\r\n${body}\r\n`);
  const r = await ingestMessage({ db: store.db, events }, { userId, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) });
  return r.messageId;
}

const pending = async () => (await sql<{ id: number }>`SELECT message_id AS id FROM search_pending WHERE user_id = ${userId} ORDER BY 1`.execute(store.db)).rows.map((r) => Number(r.id));
const indexedFolder = async (id: number) => (await sql<{ mailbox_id: number }>`SELECT mailbox_id FROM message_search WHERE message_id = ${id}`.execute(store.db)).rows[0]?.mailbox_id;
const search = async (q: string) => (await createSearchRepository(store.db).search(userId, parseSearchQuery(q), { limit: 50 })).messages.map((m) => m.id);

beforeAll(async () => {
  store = await createTestStore();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain('ix.test');
  userId = (await accounts.addUser({ address: 'ix@ix.test', password: 'ix password 1' })).id;
});
afterAll(async () => {
  await store.drop();
});

describe('the search index stage', () => {
  it('queues a filed message instead of indexing it in the filing transaction; a search indexes it first and finds it', async () => {
    const id = await deliver('Quarterly walrus report');
    expect(await pending()).toEqual([id]);
    expect(await indexedFolder(id)).toBeUndefined();

    expect(await search('walrus')).toEqual([id]);
    expect(await pending()).toEqual([]);
    expect(await indexedFolder(id)).toBeDefined();
    // The same weights as before: the subject is weight A (subject: matches it).
    expect(await search('subject:walrus')).toEqual([id]);
  });

  it('indexes queued mail in a background pass, in batches, the oldest first', async () => {
    const ids = [await deliver('pass one'), await deliver('pass two'), await deliver('pass three')];
    expect(await pending()).toEqual(ids);
    const indexer = startSearchIndexer({ db: store.db, log }, { batch: 2, intervalMs: 60_000 });
    try {
      await indexer.pass();
      expect(await pending()).toEqual([]);
      for (const id of ids) expect(await indexedFolder(id)).toBeDefined();
    } finally {
      await indexer.stop();
    }
  });

  it('while the process is behind, waits for it, unless search has been behind for longer than allowed', async () => {
    const first = [await deliver('behind one'), await deliver('behind two'), await deliver('behind three')];
    let behind = true;
    const patient = startSearchIndexer({ db: store.db, log }, { batch: 2, intervalMs: 60_000, backlogged: () => behind, maxLagMs: 60_000 });
    try {
      await patient.pass();
      expect(await pending()).toEqual(first);
      behind = false;
      await patient.pass();
      expect(await pending()).toEqual([]);
    } finally {
      await patient.stop();
    }
    const second = [await deliver('lagging one'), await deliver('lagging two'), await deliver('lagging three')];
    expect(await pending()).toEqual(second);
    const bounded = startSearchIndexer({ db: store.db, log }, { batch: 2, intervalMs: 60_000, backlogged: () => true, maxLagMs: 0 });
    try {
      await bounded.pass();
      expect(await pending()).toEqual([]);
    } finally {
      await bounded.stop();
    }
  });

  it('indexes only up to the id it is given (a search catches up with what was queued before it, not after)', async () => {
    const ids = [await deliver('bounded one'), await deliver('bounded two'), await deliver('bounded three')];
    expect(await createSearchIndexRepository(store.db).indexPending({ userId, limit: 10, upTo: ids[1] })).toEqual({ indexed: 2, taken: 2 });
    expect(await pending()).toEqual([ids[2]]);
    expect(await createSearchIndexRepository(store.db).catchUp(userId)).toBe(1);
    expect(await pending()).toEqual([]);
  });

  it('says once that indexing fails while it keeps failing, and once that it works again', async () => {
    const told: string[] = [];
    const recorder = { ...log, warn: (o: { event: string }) => void told.push(o.event), info: (o: { event: string }) => void told.push(o.event) } as unknown as typeof log;
    let broken = true;
    // A handle whose queries fail while `broken` (PostgreSQL unreachable, say), then work again.
    const db = new Proxy(store.db, {
      get(target, key) {
        if (key === 'transaction' && broken) return () => ({ execute: async () => Promise.reject(new Error('connection refused')) });
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const indexer = startSearchIndexer({ db, log: recorder }, { intervalMs: 60_000 });
    try {
      await deliver('told once');
      await indexer.pass();
      await indexer.pass();
      await indexer.pass();
      expect(told).toEqual(['search.index_failed']);
      broken = false;
      await indexer.pass();
      await indexer.pass();
      expect(told).toEqual(['search.index_failed', 'search.index_recovered']);
      expect(await pending()).toEqual([]);
    } finally {
      await indexer.stop();
    }
  });

  it('keeps the folder in step with moves, before and after indexing, and deletes the search rows of deleted mail', async () => {
    const archive = await createMailbox({ db: store.db, events }, userId, 'Zebra archive');
    const early = await deliver('zebra moved before indexing');
    const late = await deliver('zebra moved after indexing');
    await createSearchIndexRepository(store.db).indexPending({ userId, limit: 1 }); // the oldest queued: `early` only
    await moveMessages({ db: store.db, events }, userId, [early, late], archive.id);
    expect(await search('zebra in:"Zebra archive"')).toEqual(expect.arrayContaining([early, late]));
    expect(await search('zebra in:inbox')).toEqual([]);
    expect(await indexedFolder(early)).toBe(archive.id);
    expect(await indexedFolder(late)).toBe(archive.id);

    const copied = await copyMessages({ db: store.db, events }, userId, [late], { specialUse: '\\Inbox' });
    const copy = copied.copied[0]!.id;
    expect(await pending()).toEqual([copy]);
    expect(await search('zebra in:inbox')).toEqual([copy]);

    const queued = await deliver('zebra deleted before indexing');
    await deleteMessages({ db: store.db, events }, userId, [early, copy, queued]);
    const left = await sql<{ n: number }>`SELECT count(*)::int AS n FROM message_search WHERE message_id IN (${early}, ${copy}, ${queued})`.execute(store.db);
    expect(left.rows[0]!.n).toBe(0);
    expect(await pending()).toEqual([]);
  });

  it('leaves a message being moved to the move: a pass skips it, a search waits for it, and both index it in the folder the move gives it', async () => {
    const folder = await createMailbox({ db: store.db, events }, userId, 'Moving target');
    const repo = createSearchIndexRepository(store.db);
    /** Moves the message in a transaction held open until the returned release is called. */
    const moveHeldOpen = async (id: number) => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let moved!: () => void;
      const isMoved = new Promise<void>((resolve) => (moved = resolve));
      const writer = writeMailboxes({ db: store.db, events }, [userId], async (w) => {
        await w.move(userId, [id], folder.id);
        moved();
        await released;
      });
      await isMoved;
      return async () => {
        release();
        await writer;
      };
    };

    const skipped = await deliver('moving while a pass runs');
    let commit = await moveHeldOpen(skipped);
    try {
      expect(await repo.indexPending({ limit: 10 })).toEqual({ indexed: 0, taken: 0 });
    } finally {
      await commit();
    }
    expect(await repo.indexPending({ limit: 10 })).toEqual({ indexed: 1, taken: 1 });
    expect(await indexedFolder(skipped)).toBe(folder.id);

    const waited = await deliver('moving while a search runs');
    commit = await moveHeldOpen(waited);
    const catchUp = repo.catchUp(userId);
    try {
      const waiting = async () =>
        (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM search_pending WHERE user_id%'`.execute(store.db)).rows[0]!.n;
      for (let polls = 0; (await waiting()) === 0; polls++) {
        if (polls > 2000) throw new Error('the catch-up never waited for the move');
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      await commit();
    }
    expect(await catchUp).toBe(1);
    expect(await indexedFolder(waited)).toBe(folder.id);
    expect(await search('moving in:"Moving target"')).toEqual(expect.arrayContaining([skipped, waited]));
  });
});
