// What storing and reading a message's bytes (`blobs.data`) costs PostgreSQL, under PostgreSQL's
// default (pglz, what the schema had before migration 0025) and as migrated now (lz4 where the
// server has it, otherwise the bytes as they came: the embedded PostgreSQL has no lz4). One fresh
// private PostgreSQL (fsync on), the migrated schema, and a copy of `blobs` with pglz beside it;
// the two tables take the same messages in turn, 20 per INSERT (one transaction each, as spool
// commits do), then each message is read back by hash (prepared, as the worker and IMAP read).
// Measured: the backend's CPU (from /proc) per message, and each table's size on disk. Three
// kinds of message:
// - `x-lines`: ~5 KB of smtp-source's identical lines (what `npm run bench` sends);
// - `prose`: ~5 KB of words from the benches' 200-word pool (text mail);
// - `attachment`: ~200 KB, mostly a base64 attachment of random bytes (photos, PDFs: already compressed).
//
//   node bench/pg-blob-cost.mjs        (after `npm run build`; ~1 minute)
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { startLocalPostgres } from '../core/dist/local/index.js';
import { benchLog as log, cpuSeconds, DATA_ROOT, finishRun, machineInfo, pruneOldRuns, ROOT, proseWords, round, RESULTS, runCleanups, sequence, startSchemaDatabase, stopOnSignals } from './lib.mjs';

const ROUNDS = 3;
const BATCH = 20;
/** A text message of about `bytes` characters: headers, then words from the shared pool. */
const prose = (next, bytes) => 'From: a@cost.test\r\nTo: b@cost.test\r\nSubject: notes\r\n\r\n' + proseWords(next, bytes - 54);

const KINDS = {
  'x-lines': { count: 2000, make: () => 'Subject: x\r\n\r\n' + Array.from({ length: 64 }, () => 'X'.repeat(78)).join('\r\n') },
  prose: { count: 2000, make: (next) => prose(next, 5000) },
  attachment: {
    count: 150,
    make: (next) =>
      'Subject: photo\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n' + prose(next, 2000) + '\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
      crypto.randomBytes(150_000).toString('base64').replace(/.{76}/g, '$&\r\n') + '\r\n--b--\r\n',
  },
};
const TABLES = { pglz: 'blobs_pglz', migrated: 'blobs' };

async function run(runDir) {
  const server = await startSchemaDatabase(() => startLocalPostgres({ dataDir: path.join(runDir, 'pg') }), { domain: 'cost.test', users: [] });
  const db = new pg.Client({ connectionString: server.url });
  await db.connect();
  try {
    await db.query(`CREATE TABLE blobs_pglz (LIKE blobs INCLUDING ALL); ALTER TABLE blobs_pglz ALTER COLUMN data SET STORAGE EXTENDED, ALTER COLUMN data SET COMPRESSION pglz`);
    const { rows: [column] } = await db.query(`SELECT attstorage AS storage, attcompression AS compression FROM pg_attribute WHERE attrelid = 'blobs'::regclass AND attname = 'data'`);
    const { rows: [{ pid }] } = await db.query('SELECT pg_backend_pid() AS pid');
    const next = sequence(5);
    const sums = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const [kind, { count, make }] of Object.entries(KINDS)) {
        const messages = Array.from({ length: count }, (_, i) => Buffer.from(`X-Bench: ${r}-${i}\r\n${make(next)}`));
        const hashes = messages.map((m) => crypto.createHash('sha256').update(m).digest());
        for (const [variant, table] of Object.entries(TABLES)) {
          const cpu0 = cpuSeconds(pid);
          for (let i = 0; i < count; i += BATCH) {
            const part = messages.slice(i, i + BATCH);
            const values = part.map((_, j) => `($${3 * j + 1}, $${3 * j + 2}, $${3 * j + 3})`).join(', ');
            await db.query(`INSERT INTO ${table} (hash, size, data) VALUES ${values}`, part.flatMap((m, j) => [hashes[i + j], m.length, m]));
          }
          const cpu1 = cpuSeconds(pid);
          for (const hash of hashes) await db.query({ name: `read_${table}`, text: `SELECT data FROM ${table} WHERE hash = $1`, values: [hash] });
          const cpu2 = cpuSeconds(pid);
          const sum = (sums[`${kind}/${variant}`] ??= { kind, variant, messages: 0, insertCpu: 0, readCpu: 0 });
          sum.messages += count;
          sum.insertCpu += cpu1 - cpu0;
          sum.readCpu += cpu2 - cpu1;
        }
      }
    }
    const sizes = {};
    for (const [variant, table] of Object.entries(TABLES)) sizes[variant] = Number((await db.query(`SELECT pg_total_relation_size($1::regclass) AS n`, [table])).rows[0].n);
    return {
      migratedColumn: { storage: column.storage === 'e' ? 'external' : 'extended', compression: column.compression === 'l' ? 'lz4' : column.compression === 'p' ? 'pglz' : 'default (pglz)' },
      rows: Object.values(sums).map((s) => ({ kind: s.kind, variant: s.variant, insertUsPerMessage: round((s.insertCpu * 1e6) / s.messages, 0), readUsPerMessage: round((s.readCpu * 1e6) / s.messages, 0) })),
      tableBytes: sizes,
    };
  } finally {
    await db.end();
    await server.stop();
  }
}

function printTable(results) {
  const m = results.migratedColumn;
  console.log(`\nblobs.data: backend CPU µs per message (${ROUNDS} rounds; "migrated" = storage ${m.storage}, compression ${m.compression} on this server)`);
  console.log('kind        | variant  | insert µs | read µs');
  for (const r of results.rows) console.log(`${r.kind.padEnd(11)} | ${r.variant.padEnd(8)} | ${String(r.insertUsPerMessage).padStart(9)} | ${String(r.readUsPerMessage).padStart(7)}`);
  console.log(`size on disk, all kinds: pglz ${(results.tableBytes.pglz / 1048576).toFixed(0)} MB, migrated ${(results.tableBytes.migrated / 1048576).toFixed(0)} MB`);
}

stopOnSignals();
pruneOldRuns(DATA_ROOT, 'blob-cost-', (dir) => [path.join(dir, 'pg', 'postgres', 'postmaster.pid')]);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const runDir = path.join(DATA_ROOT, `blob-cost-${stamp}`);
fs.mkdirSync(runDir, { recursive: true });
const results = { bench: 'pg-blob-cost', at: new Date().toISOString(), rounds: ROUNDS, batch: BATCH, machine: machineInfo() };
let failure;
try {
  log('pglz and the migrated blobs table, in turn');
  Object.assign(results, await run(runDir));
} catch (err) {
  failure = err;
} finally {
  await runCleanups('pg-blob-cost');
}
finishRun({ root: ROOT, resultsDir: RESULTS, fileName: `pg-blob-cost-${stamp}.json`, results, printTable, runDir, failure, kept: 'BENCH_KEEP' });
