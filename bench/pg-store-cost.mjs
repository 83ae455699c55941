// What one IMAP STORE (the mailbox writer's one-statement flag change, `storeFlags`) costs
// PostgreSQL, prepared once per connection (as the services run it: `PREPARED` in core/src/db/client.ts)
// and parsed and planned at every execution (as before session 9). A fresh private PostgreSQL
// (fsync on) with the real schema (`mailyard migrate`) gets 20 users × 200 messages filed in turn
// (so a mailbox's rows are spread over the table, as mail arriving for many users leaves them), with
// bodies of words like the IMAP bench's: 60 % 1–4 KB, 20 % 20–60 KB, 20 % 2 KB. Then N STOREs on one
// connection, alternately +FLAGS \Seen and -FLAGS \Seen on a random message of its user (a -FLAGS
// on a message without \Seen changes nothing and writes nothing). Measured: the backend's CPU (from
// /proc) per STORE, the WAL bytes, and how many of the row updates were HOT.
//
//   node bench/pg-store-cost.mjs          (after `npm run build`; ~2 minutes)
//   BENCH_STORES=1500                     STOREs per variant (default 1500)
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { startLocalPostgres } from '../core/dist/local/index.js';
import { createDb, createMessageRepository } from '../core/dist/index.js';
import { PREPARED_TEXT } from '../core/dist/db/client.js';
import { BENCH, benchLog as log, cpuSeconds, finishRun, machineInfo, pruneOldRuns, ROOT, round, RESULTS, runCleanups, proseWords, sequence, startSchemaDatabase, stopOnSignals, WORD_POOL } from './lib.mjs';

const STORES = Number(process.env.BENCH_STORES ?? 1500);
const USERS = 20;
const PER_USER = 200;
const DATA_ROOT = path.join(BENCH, '.data');
/** The first 81 words of the shared pool: the words this bench's figures were made with. */
const POOL_SIZE = 81;
const words = (next, length) => proseWords(next, length, POOL_SIZE);

/** Runs marked statements unnamed (the marker stripped): every execution parsed and planned again. */
function unprepare(pool) {
  pool.on('connect', (client) => {
    const query = client.query.bind(client);
    client.query = (text, ...rest) => query(typeof text === 'string' && text.startsWith(PREPARED_TEXT) ? text.slice(PREPARED_TEXT.length) : text, ...rest);
  });
}

async function measure(variant, dataDir) {
  const users = Array.from({ length: USERS }, (_, u) => `u${u}@cost.test`);
  const server = await startSchemaDatabase(() => startLocalPostgres({ dataDir }), { domain: 'cost.test', users });
  const next = sequence(7);
  const setup = new pg.Client({ connectionString: server.url });
  await setup.connect();
  let store;
  try {
    const { rows: boxes } = await setup.query(`SELECT user_id, id FROM mailboxes WHERE name = 'INBOX' ORDER BY user_id`);
    await setup.query(`INSERT INTO blobs (hash, size, data) VALUES ('\\x00', 1, '\\x00')`);
    for (let uid = 1; uid <= PER_USER; uid++) {
      for (const box of boxes) {
        const kind = next() % 10;
        const body = words(next, kind < 6 ? 1000 + (next() % 3000) : kind < 8 ? 20000 + (next() % 40000) : 2000);
        await setup.query(
          `INSERT INTO messages (user_id, mailbox_id, uid, modseq, internal_date, size, blob_hash, thread_id, message_id_header, subject, normalized_subject, from_text, to_text, body_text, snippet)
           VALUES ($1, $2, $3, $3, now(), 5120, '\\x00', $3, $4, $5, lower($5), $6, 'u@cost.test', $7, left($7, 200))`,
          [box.user_id, box.id, uid, `<m${uid}.${box.user_id}@cost.test>`, `Report ${next() % 1000} ${WORD_POOL[next() % POOL_SIZE]}`, `Sender ${next() % 10} <s${next() % 10}@example.org>`, body],
        );
      }
    }
    await setup.query('UPDATE mailboxes b SET message_count = c.n, unseen_count = c.n, uidnext = c.n + 1 FROM (SELECT mailbox_id, count(*)::int AS n FROM messages GROUP BY mailbox_id) c WHERE b.id = c.mailbox_id');
    await setup.query(`UPDATE users SET modseq = ${PER_USER + 1}`);
    await setup.query('VACUUM ANALYZE messages');
    const { rows: messages } = await setup.query('SELECT id, user_id FROM messages ORDER BY id');

    store = createDb({ connectionString: server.url, max: 1 });
    if (variant === 'unprepared') unprepare(store.pool);
    const repo = createMessageRepository(store.db);
    const { rows: [{ pid }] } = await store.pool.query('SELECT pg_backend_pid() AS pid');
    // The backend's counts reach the statistics when its transaction ends: flush them, then read.
    const updates = async () => {
      await store.pool.query('SELECT pg_stat_force_next_flush()');
      return (await store.pool.query(`SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'messages'`)).rows[0];
    };
    const before = await updates();
    const { rows: [{ lsn }] } = await store.pool.query('SELECT pg_current_wal_lsn() AS lsn');
    const pick = sequence(13);
    const cpu0 = cpuSeconds(pid);
    for (let i = 0; i < STORES; i++) {
      const m = messages[pick() % messages.length];
      const seen = ['\\Seen'];
      await repo.storeFlags(m.user_id, [m.id], { add: i % 2 ? [] : seen, remove: i % 2 ? seen : [], replace: null, unchangedSince: null }, 100);
    }
    const cpu = cpuSeconds(pid) - cpu0;
    const { rows: [{ bytes }] } = await store.pool.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes', [lsn]);
    const after = await updates();
    return {
      variant,
      backendCpuUsPerStore: round((cpu * 1e6) / STORES, 0),
      walBytesPerStore: round(Number(bytes) / STORES, 0),
      rowUpdates: Number(after.n_tup_upd) - Number(before.n_tup_upd),
      hotUpdates: Number(after.n_tup_hot_upd) - Number(before.n_tup_hot_upd),
    };
  } finally {
    await setup.end();
    await store?.db.destroy();
    await server.stop();
  }
}

function printTable(results) {
  console.log(`\nIMAP STORE (one statement), ${STORES} per variant, ${USERS} users × ${PER_USER} messages: PostgreSQL backend CPU µs and WAL bytes per STORE`);
  console.log('variant     | CPU µs/STORE | WAL B/STORE | HOT updates');
  for (const r of results.rows) console.log(`${r.variant.padEnd(11)} | ${String(r.backendCpuUsPerStore).padStart(12)} | ${String(r.walBytesPerStore).padStart(11)} | ${r.hotUpdates}/${r.rowUpdates}`);
}

stopOnSignals();
pruneOldRuns(DATA_ROOT, 'store-cost-', (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).map((d) => path.join(dir, d, 'postgres', 'postmaster.pid')) : []));
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const runDir = path.join(DATA_ROOT, `store-cost-${stamp}`);
fs.mkdirSync(runDir, { recursive: true });
const results = { bench: 'pg-store-cost', at: new Date().toISOString(), stores: STORES, users: USERS, perUser: PER_USER, machine: machineInfo(), rows: [] };
let failure;
try {
  for (const variant of ['prepared', 'unprepared', 'prepared', 'unprepared']) {
    log(variant);
    results.rows.push(await measure(variant, path.join(runDir, `${results.rows.length}-${variant}`)));
  }
} catch (err) {
  failure = err;
} finally {
  await runCleanups('pg-store-cost');
}
finishRun({ root: ROOT, resultsDir: RESULTS, fileName: `pg-store-cost-${stamp}.json`, results, printTable, runDir, failure, kept: 'BENCH_KEEP' });
