import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { Migrator } from 'kysely';
import { createDb, type Db } from './client.js';
import { migrateToLatest, migrations } from './migrate.js';

/**
 * Backup and restore of the whole store (`npx mailyard backup|restore`): every table, message
 * bytes included, in one consistent snapshot (a REPEATABLE READ transaction), as a gzip file of
 * framed binary COPY streams. It does not use pg_dump on purpose: the private PostgreSQL is 18 and
 * a pg_dump must be at least as new as the server, which Debian's client is not.
 *
 * The file: frames of [tag: 1 byte][length: u32 BE][payload]. `H` header (JSON: format, schema =
 * the last migration applied, the sealing key when it lives in DATA_DIR), then per table `T`
 * (JSON: name, columns), `D` chunks of COPY BINARY data, `E` (JSON: rows), and a final `Z`
 * (JSON: tables). Tables come parents first (foreign keys), rows in primary-key order, generated
 * columns left out (PostgreSQL computes them again).
 *
 * Restore: into an empty database only (or `force`), at the backup's schema version: the schema
 * is made by the migrations up to that version, every table is loaded in ONE transaction that
 * commits only when the final frame was read and every row count matched (a truncated or damaged
 * file leaves no rows behind), sequences are moved past the loaded ids, then the newer migrations
 * of this version run as at any start.
 */

const FORMAT = 'mailyard-backup';
const FORMAT_VERSION = 1;
const MIGRATION_TABLES = ['kysely_migration', 'kysely_migration_lock'];

export interface BackupHeader {
  format: typeof FORMAT;
  version: number;
  /** The last migration applied to the database that was dumped. */
  schema: string;
  createdAt: string;
  /** DATA_DIR/secret.key (base64) when the install seals secrets with it; null with SECRET_KEY. */
  secretKey: string | null;
}

export interface BackupProgress {
  table: string;
  rows: number;
  bytes: number;
}

export class BackupError extends Error {}

interface TableInfo {
  name: string;
  columns: string[];
  primaryKey: string[];
}

/** Base tables of the current schema, parents before children, with their stored (not generated) columns. */
async function listTables(client: pg.ClientBase): Promise<TableInfo[]> {
  const { rows } = await client.query<{ name: string; columns: string[]; pk: string[] | null }>(`
    SELECT c.relname AS name,
           array_agg(a.attname::text ORDER BY a.attnum) AS columns,
           (SELECT array_agg(pa.attname::text ORDER BY array_position(i.indkey::int2[], pa.attnum))
              FROM pg_index i JOIN pg_attribute pa ON pa.attrelid = i.indrelid AND pa.attnum = ANY (i.indkey)
             WHERE i.indrelid = c.oid AND i.indisprimary) AS pk
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     WHERE c.relkind = 'r' AND c.relname <> ALL ($1::text[])
     GROUP BY c.oid, c.relname`, [MIGRATION_TABLES]);
  const { rows: edges } = await client.query<{ child: string; parent: string }>(`
    SELECT cc.relname AS child, pc.relname AS parent
      FROM pg_constraint f
      JOIN pg_class cc ON cc.oid = f.conrelid
      JOIN pg_class pc ON pc.oid = f.confrelid
      JOIN pg_namespace n ON n.oid = cc.relnamespace AND n.nspname = current_schema()
     WHERE f.contype = 'f' AND f.conrelid <> f.confrelid`);
  const byName = new Map(rows.map((r) => [r.name, { name: r.name, columns: r.columns, primaryKey: r.pk ?? [] }]));
  const parents = new Map<string, Set<string>>();
  for (const e of edges) parents.set(e.child, (parents.get(e.child) ?? new Set()).add(e.parent));
  const ordered: TableInfo[] = [];
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (name: string) => {
    if (done.has(name) || !byName.has(name)) return;
    if (visiting.has(name)) throw new BackupError(`foreign keys form a cycle through ${name}`);
    visiting.add(name);
    for (const parent of [...(parents.get(name) ?? [])].sort()) visit(parent);
    visiting.delete(name);
    done.add(name);
    ordered.push(byName.get(name)!);
  };
  for (const name of [...byName.keys()].sort()) visit(name);
  return ordered;
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

function frame(tag: string, payload: Buffer | object): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload));
  const head = Buffer.alloc(5);
  head.write(tag, 0, 'latin1');
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

async function write(out: Writable, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

/**
 * Dumps the database at `connectionString` into `file` (mode 0600). The file appears under its
 * name only when complete: it is written beside it first and renamed at the end.
 */
export async function backupDatabase(options: { connectionString: string; file: string; secretKey: Buffer | null; onProgress?(p: BackupProgress): void }): Promise<{ schema: string; tables: number; rows: number }> {
  const client = new pg.Client({ connectionString: options.connectionString, application_name: 'mailyard-backup' });
  await client.connect();
  const partial = `${options.file}.partial`;
  const gzip = createGzip();
  const sink = pipeline(gzip, createWriteStream(partial, { mode: 0o600 }));
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const applied = await client.query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name DESC LIMIT 1').catch(() => ({ rows: [] as Array<{ name: string }> }));
    const schema = applied.rows[0]?.name;
    if (!schema) throw new BackupError('the database has no Mailyard schema: nothing to back up');
    const header: BackupHeader = { format: FORMAT, version: FORMAT_VERSION, schema, createdAt: new Date().toISOString(), secretKey: options.secretKey?.toString('base64') ?? null };
    await write(gzip, frame('H', header));
    const tables = await listTables(client);
    let total = 0;
    for (const table of tables) {
      await write(gzip, frame('T', { name: table.name, columns: table.columns }));
      const order = table.primaryKey.length > 0 ? ` ORDER BY ${table.primaryKey.map(ident).join(', ')}` : '';
      const copy = client.query(copyStreams.to(`COPY (SELECT ${table.columns.map(ident).join(', ')} FROM ${ident(table.name)}${order}) TO STDOUT (FORMAT binary)`));
      let bytes = 0;
      for await (const chunk of copy as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        await write(gzip, frame('D', chunk));
      }
      const rows = copy.rowCount ?? 0;
      total += rows;
      await write(gzip, frame('E', { rows }));
      options.onProgress?.({ table: table.name, rows, bytes });
    }
    await write(gzip, frame('Z', { tables: tables.length }));
    await client.query('COMMIT');
    gzip.end();
    await sink;
    renameSync(partial, options.file);
    return { schema, tables: tables.length, rows: total };
  } catch (err) {
    gzip.destroy();
    await sink.catch(() => undefined);
    rmSync(partial, { force: true });
    throw err;
  } finally {
    await client.end();
  }
}

/** Reads the frames of a backup file one at a time. */
class FrameReader {
  private buffered: Buffer[] = [];
  private length = 0;
  private readonly chunks: AsyncIterator<Buffer>;

  constructor(input: Readable) {
    this.chunks = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.length < n) {
      const next = await this.chunks.next();
      if (next.done) return false;
      this.buffered.push(next.value);
      this.length += next.value.length;
    }
    return true;
  }

  private take(n: number): Buffer {
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    this.buffered = n < all.length ? [all.subarray(n)] : [];
    this.length -= n;
    return all.subarray(0, n);
  }

  async next(): Promise<{ tag: string; payload: Buffer }> {
    if (!(await this.fill(5))) throw new BackupError('the backup file ends early (truncated?)');
    const head = this.take(5);
    const size = head.readUInt32BE(1);
    if (!(await this.fill(size))) throw new BackupError('the backup file ends early (truncated?)');
    return { tag: head.toString('latin1', 0, 1), payload: this.take(size) };
  }

  async json<T>(tag: string): Promise<T> {
    const f = await this.next();
    if (f.tag !== tag) throw new BackupError(`the backup file is damaged: expected a ${tag} frame, found ${JSON.stringify(f.tag)}`);
    return JSON.parse(f.payload.toString('utf8')) as T;
  }
}

function openBackup(file: string): { reader: FrameReader; close(): void } {
  const input = createReadStream(file);
  const gunzip = createGunzip();
  input.on('error', (err) => gunzip.destroy(err));
  input.pipe(gunzip);
  return { reader: new FrameReader(gunzip), close: () => (input.destroy(), gunzip.destroy()) };
}

/** The header of a backup file, checked: it is one, and this version can restore it. */
export async function readBackupHeader(file: string): Promise<BackupHeader> {
  const { reader, close } = openBackup(file);
  try {
    return checkHeader(await reader.json<BackupHeader>('H'));
  } catch (err) {
    throw err instanceof SyntaxError || (err as NodeJS.ErrnoException).code === 'Z_DATA_ERROR' ? new BackupError(`${file} is not a Mailyard backup`) : err;
  } finally {
    close();
  }
}

function checkHeader(header: BackupHeader): BackupHeader {
  if (header.format !== FORMAT) throw new BackupError('not a Mailyard backup');
  if (header.version !== FORMAT_VERSION) throw new BackupError(`backup format ${header.version} is not supported by this version (it reads ${FORMAT_VERSION})`);
  if (!(header.schema in migrations)) throw new BackupError(`the backup was made by a newer Mailyard (schema ${header.schema}); restore it with that version or newer`);
  return header;
}

async function withKysely(connectionString: string, work: (db: Db) => Promise<unknown>): Promise<void> {
  const { db } = createDb({ connectionString, max: 1, applicationName: 'mailyard-restore' });
  try {
    await work(db);
  } finally {
    await db.destroy();
  }
}

/** Other sessions on the same database (their application names): services that a restore would pull the schema from under. */
export async function otherClients(connectionString: string): Promise<string[]> {
  const client = new pg.Client({ connectionString, application_name: 'mailyard-restore' });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT DISTINCT coalesce(nullif(application_name, ''), 'unnamed') AS name FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' ORDER BY 1`,
    );
    return rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

/** Reads the whole file once: every frame in place and the final one present, before anything is replaced. */
async function verifyBackup(file: string): Promise<void> {
  const { reader, close } = openBackup(file);
  try {
    await reader.json<BackupHeader>('H');
    for (let f = await reader.next(); f.tag !== 'Z'; f = await reader.next()) {
      if (!['T', 'D', 'E'].includes(f.tag)) throw new BackupError(`the backup file is damaged (frame ${JSON.stringify(f.tag)})`);
    }
    // Nothing may follow the end frame.
    if (await reader.next().then(() => true, () => false)) throw new BackupError('the backup file is damaged: data after its end');
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code?.startsWith('Z_') ? new BackupError(`the backup file is damaged: ${(err as Error).message}`) : err;
  } finally {
    close();
  }
}

/** Tables of the current schema (migration bookkeeping excluded) that hold at least one row. */
async function tablesWithRows(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
      WHERE c.relkind = 'r' AND c.relname <> ALL ($1::text[]) ORDER BY 1`,
    [MIGRATION_TABLES],
  );
  const full: string[] = [];
  for (const { name } of rows) {
    const { rows: any } = await client.query(`SELECT 1 FROM ${ident(name)} LIMIT 1`);
    if (any.length > 0) full.push(name);
  }
  return full;
}

/**
 * Restores `file` into the database at `connectionString`. Refuses a database that holds data
 * unless `force` (then everything in it is replaced). Returns the header (the caller puts the
 * sealing key back into DATA_DIR).
 */
export async function restoreDatabase(options: { connectionString: string; file: string; force?: boolean; onProgress?(p: BackupProgress): void }): Promise<BackupHeader & { tables: number; rows: number }> {
  const header = await readBackupHeader(options.file);
  await verifyBackup(options.file);
  const client = new pg.Client({ connectionString: options.connectionString, application_name: 'mailyard-restore' });
  await client.connect();
  try {
    const full = await tablesWithRows(client);
    if (full.length > 0 && !options.force) {
      throw new BackupError(`the target database is not empty (rows in ${full.slice(0, 5).join(', ')}${full.length > 5 ? ', …' : ''}): restore into a fresh install, or pass --force to replace everything in it`);
    }
    // The schema is rebuilt by the migrations up to the backup's version: whatever the target had goes.
    const { rows: schemaRow } = await client.query<{ schema: string }>('SELECT current_schema() AS schema');
    const schemaName = schemaRow[0]!.schema;
    await client.query(`DROP SCHEMA ${ident(schemaName)} CASCADE; CREATE SCHEMA ${ident(schemaName)}`);
    await withKysely(options.connectionString, async (db) => {
      const { error } = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateTo(header.schema);
      if (error) throw new BackupError(`could not create the schema ${header.schema}: ${error instanceof Error ? error.message : String(error)}`);
    });

    const { reader, close } = openBackup(options.file);
    let tables = 0;
    let total = 0;
    try {
      await reader.json<BackupHeader>('H');
      await client.query('BEGIN');
      for (;;) {
        const f = await reader.next();
        if (f.tag === 'Z') {
          const end = JSON.parse(f.payload.toString('utf8')) as { tables: number };
          if (end.tables !== tables) throw new BackupError(`the backup file is damaged: ${tables} tables read, ${end.tables} written`);
          break;
        }
        if (f.tag !== 'T') throw new BackupError(`the backup file is damaged: expected a table, found ${JSON.stringify(f.tag)}`);
        const table = JSON.parse(f.payload.toString('utf8')) as { name: string; columns: string[] };
        // Rows made by the migrations or by triggers of tables loaded before this one give way to the backup's.
        await client.query(`DELETE FROM ${ident(table.name)}`);
        const copy = client.query(copyStreams.from(`COPY ${ident(table.name)} (${table.columns.map(ident).join(', ')}) FROM STDIN (FORMAT binary)`));
        const copied = once(copy, 'finish');
        copy.on('error', () => undefined); // surfaced by `copied`
        let bytes = 0;
        let end: { rows: number } | undefined;
        for (;;) {
          const d = await reader.next();
          if (d.tag === 'D') {
            bytes += d.payload.length;
            if (!copy.write(d.payload)) await Promise.race([once(copy, 'drain'), copied]);
            continue;
          }
          if (d.tag !== 'E') throw new BackupError(`the backup file is damaged inside ${table.name}`);
          end = JSON.parse(d.payload.toString('utf8')) as { rows: number };
          break;
        }
        copy.end();
        await copied;
        if (copy.rowCount !== end.rows) throw new BackupError(`the backup file is damaged: ${table.name} has ${copy.rowCount} rows, ${end.rows} expected`);
        tables += 1;
        total += end.rows;
        options.onProgress?.({ table: table.name, rows: end.rows, bytes });
      }
      // Sequences (serial and identity columns) continue after the highest id loaded.
      await client.query(`
        DO $$ DECLARE r record; BEGIN
          FOR r IN SELECT c.relname AS t, a.attname AS col, pg_get_serial_sequence(quote_ident(c.relname), a.attname) AS seq
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
                     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                    WHERE c.relkind = 'r' AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL LOOP
            EXECUTE format('SELECT setval(%L, COALESCE((SELECT max(%I) FROM %I), 0) + 1, false)', r.seq, r.col, r.t);
          END LOOP;
        END $$`);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      close();
    }
    // What this version added since the backup's schema, as at any start.
    await withKysely(options.connectionString, migrateToLatest);
    return { ...header, tables, rows: total };
  } finally {
    await client.end();
  }
}
