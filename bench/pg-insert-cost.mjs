// What one row of `messages` costs PostgreSQL to insert, and which part of the table costs it
// (issue #14, "Indexes": measure the GIN indexes' share before changing them). For each variant a
// fresh private PostgreSQL (fsync on) with the real schema (`mailyard migrate`) takes N messages in
// multi-row INSERTs of 50 inside one transaction each, as filing batches do (each batch also queues
// its messages for the search index stage, as the mailbox writer does); measured: the backend's
// CPU (from /proc) and the WAL bytes, per message. Then the search index stage (migration 0026)
// computes their search vectors in batches of 200 (core's SearchIndexRepository.indexPending), and
// that is measured the same way. Two kinds of body:
// - `x-lines`: what Postfix's smtp-source sends (and so what `npm run bench` files): ~5 KB of
//   identical "XXXX…" lines, one lexeme for the search vector;
// - `prose`: ~5 KB of words (an English pool of 200 words with numbers mixed in), about the number of
//   distinct words of real mail: what a real inbox files.
// Variants: `schema` (as migrated), `no-gin` (without the five GIN indexes left on `messages`).
// Only `schema` is a state the product runs in; the other apportions its cost.
//
//   node bench/pg-insert-cost.mjs            (after `npm run build`; ~1 minute)
//   BENCH_MESSAGES=4000                      messages per variant (default 4000)
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { createDb, createSearchIndexRepository } from '../core/dist/index.js';
import { startLocalPostgres } from '../core/dist/local/index.js';
import { BENCH, benchLog as log, cpuSeconds, finishRun, machineInfo, pruneOldRuns, ROOT, round, RESULTS, runCleanups, proseWords, sequence, startSchemaDatabase, stopOnSignals, WORD_POOL } from './lib.mjs';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 4000);
const BATCH = 50;
const DATA_ROOT = path.join(BENCH, '.data');
const GIN = ['messages_references', 'messages_subject_search', 'messages_from_trgm', 'messages_to_trgm', 'messages_cc_trgm'];
const VARIANTS = {
  schema: [],
  'no-gin': GIN.map((i) => `DROP INDEX IF EXISTS ${i}`),
};

function bodies(kind) {
  const next = sequence(7);
  const line = 'X'.repeat(78);
  return () => {
    if (kind === 'x-lines') return Array.from({ length: 64 }, () => line).join('\n');
    return proseWords(next, 5000);
  };
}

async function measure(kind, variant, runDir) {
  const server = await startSchemaDatabase(() => startLocalPostgres({ dataDir: path.join(runDir, `${kind}-${variant}`) }), { domain: 'cost.test', users: ['a@cost.test'] });
  const db = new pg.Client({ connectionString: server.url });
  await db.connect();
  try {
    for (const statement of VARIANTS[variant]) await db.query(statement);
    const { rows: [box] } = await db.query(`SELECT user_id, id FROM mailboxes WHERE name = 'INBOX'`);
    await db.query(`INSERT INTO blobs (hash, size, data) VALUES ('\\x00', 1, '\\x00')`);
    const { rows: [{ pid }] } = await db.query('SELECT pg_backend_pid() AS pid');
    const { rows: [{ lsn }] } = await db.query('SELECT pg_current_wal_lsn() AS lsn');
    const body = bodies(kind);
    const next = sequence(11);
    const cpu0 = cpuSeconds(pid);
    for (let uid = 1; uid <= MESSAGES; uid += BATCH) {
      const values = [];
      const params = [];
      for (let u = uid; u < uid + BATCH && u <= MESSAGES; u++) {
        const p = params.length;
        const subject = `Report ${next() % 1000} ${WORD_POOL[next() % WORD_POOL.length]}`;
        params.push(box.user_id, box.id, u, subject, `Sender ${next() % 100} s${next() % 100}@example.org`, 'a@cost.test', body(), `<m${u}@cost.test>`);
        values.push(`($${p + 1}, $${p + 2}, $${p + 3}, $${p + 3}, now(), 5120, '\\x00', $${p + 3}, $${p + 8}, $${p + 4}, lower($${p + 4}), $${p + 5}, $${p + 6}, $${p + 7}, left($${p + 7}, 200))`);
      }
      await db.query('BEGIN');
      const { rows: inserted } = await db.query(
        `INSERT INTO messages (user_id, mailbox_id, uid, modseq, internal_date, size, blob_hash, thread_id, message_id_header, subject, normalized_subject, from_text, to_text, body_text, snippet)
         VALUES ${values.join(', ')} RETURNING id, user_id`,
        params,
      );
      await db.query('INSERT INTO search_pending (message_id, user_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])', [inserted.map((r) => r.id), inserted.map((r) => r.user_id)]);
      await db.query('COMMIT');
    }
    const cpu = cpuSeconds(pid) - cpu0;
    const { rows: [{ bytes, lsn: lsn1 }] } = await db.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes, pg_current_wal_lsn() AS lsn', [lsn]);

    // The search index stage, on one connection of the product's own pool.
    const kysely = createDb({ connectionString: server.url, max: 1 }).db;
    try {
      const { rows: [{ pid: indexPid }] } = await sql`SELECT pg_backend_pid() AS pid`.execute(kysely);
      const repo = createSearchIndexRepository(kysely);
      const icpu0 = cpuSeconds(indexPid);
      while ((await repo.indexPending({ limit: 200 })).taken > 0);
      const icpu = cpuSeconds(indexPid) - icpu0;
      const { rows: [{ bytes: ibytes }] } = await db.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes', [lsn1]);
      return {
        kind,
        variant,
        backendCpuUsPerMessage: round((cpu * 1e6) / MESSAGES, 0),
        walBytesPerMessage: round(Number(bytes) / MESSAGES, 0),
        indexStage: { backendCpuUsPerMessage: round((icpu * 1e6) / MESSAGES, 0), walBytesPerMessage: round(Number(ibytes) / MESSAGES, 0) },
      };
    } finally {
      await kysely.destroy();
    }
  } finally {
    await db.end();
    await server.stop();
  }
}

function printTable(results) {
  console.log(`\nmessages INSERT, ${MESSAGES} per variant, batches of ${BATCH}: PostgreSQL backend CPU µs and WAL bytes per message`);
  console.log('body      | variant          | CPU µs/msg | WAL B/msg | index stage: CPU µs/msg | WAL B/msg');
  for (const r of results.rows)
    console.log(
      `${r.kind.padEnd(9)} | ${r.variant.padEnd(16)} | ${String(r.backendCpuUsPerMessage).padStart(10)} | ${String(r.walBytesPerMessage).padStart(9)} | ${String(r.indexStage.backendCpuUsPerMessage).padStart(23)} | ${String(r.indexStage.walBytesPerMessage).padStart(9)}`,
    );
}

stopOnSignals();
pruneOldRuns(DATA_ROOT, 'insert-cost-', (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).map((d) => path.join(dir, d, 'postgres', 'postmaster.pid')) : []));
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const runDir = path.join(DATA_ROOT, `insert-cost-${stamp}`);
fs.mkdirSync(runDir, { recursive: true });
const results = { bench: 'pg-insert-cost', at: new Date().toISOString(), messages: MESSAGES, batch: BATCH, machine: machineInfo(), rows: [] };
let failure;
try {
  for (const kind of ['x-lines', 'prose'])
    for (const variant of Object.keys(VARIANTS)) {
      log(`${kind} / ${variant}`);
      results.rows.push(await measure(kind, variant, runDir));
    }
} catch (err) {
  failure = err;
} finally {
  await runCleanups('pg-insert-cost');
}
finishRun({ root: ROOT, resultsDir: RESULTS, fileName: `pg-insert-cost-${stamp}.json`, results, printTable, runDir, failure, kept: 'BENCH_KEEP' });
