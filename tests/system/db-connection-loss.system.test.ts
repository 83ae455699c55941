import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLocalPostgres, type LocalPostgres } from '../../core/src/local/index.js';
import { eventually, repoRoot } from '../helpers/services.js';

/**
 * A dropped PostgreSQL connection must never end a process (hardening #12, finding 1). pg emits
 * 'error' on a client checked out of the pool when its server goes away; with nothing listening,
 * Node exits. A child process (tests/system/fixtures/db-client.mjs, on the built core) holds a
 * transaction open between two statements while its backend is terminated, or while the
 * postmaster is SIGKILLed: the child stays up, the transaction fails, and (after a terminated
 * backend) the next statement runs on a fresh connection. A private PostgreSQL, so it can be killed,
 * with fsync on (no unsafeFastMode): the crash is the one a production server would have.
 */

let dataDir: string;
let postgres: LocalPostgres;
let child: DbClient | undefined;

interface DbClient {
  process: ChildProcess;
  send(line: string): void;
  /** Waits for a stdout line starting with `prefix` after the `from`-th line; returns it. */
  line(prefix: string, from?: number): Promise<string>;
  lines(): string[];
  alive(): boolean;
}

function startDbClient(databaseUrl: string): DbClient {
  const proc = spawn(process.execPath, [path.join(repoRoot, 'tests/system/fixtures/db-client.mjs')], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DATABASE_URL: databaseUrl },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const lines = () => out.split('\n').filter(Boolean);
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  return {
    process: proc,
    send: (line) => proc.stdin.write(`${line}\n`),
    lines,
    alive,
    line: (prefix, from = 0) =>
      eventually(async () => (!alive() ? Promise.reject(new Error(`db-client exited (${proc.exitCode ?? proc.signalCode}): ${err}${out}`)) : lines().slice(from).find((l) => l.startsWith(prefix))), {
        timeoutMs: 20_000,
        describe: () => `no "${prefix}" line; output:\n${out}${err}`,
      }),
  };
}

async function terminateBackends(): Promise<number> {
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  try {
    const { rowCount } = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'db-client'");
    return rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-pgloss-'));
  fs.chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as the postgres user
  postgres = await startLocalPostgres({ dataDir });
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  try {
    const settings = await admin.query<{ name: string; setting: string }>("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name");
    expect(settings.rows).toEqual([
      { name: 'fsync', setting: 'on' },
      { name: 'full_page_writes', setting: 'on' },
      { name: 'synchronous_commit', setting: 'on' },
    ]);
  } finally {
    await admin.end();
  }
});

afterEach(() => {
  child?.process.kill('SIGKILL');
  child = undefined;
});

afterAll(async () => {
  await postgres?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('a PostgreSQL connection lost under a checked-out client', () => {
  it('does not end the process when the backend of an open transaction is terminated, and the next query reconnects', async () => {
    child = startDbClient(postgres.url);
    child.send('hold');
    await child.line('held');
    expect(await terminateBackends()).toBeGreaterThan(0);
    await child.line('{"level":40'); // db.connection_lost, logged
    expect(child.lines().join('\n')).toContain('"event":"db.connection_lost"');

    child.send('release');
    expect(await child.line('tx-')).toMatch(/^tx-failed /);
    const before = child.lines().length;
    child.send('ping');
    expect(await child.line('p', before)).toBe('pong');
    expect(child.alive()).toBe(true);
  });

  it('does not end the process when the postmaster is SIGKILLed under an open transaction', async () => {
    child = startDbClient(postgres.url);
    child.send('hold');
    await child.line('held');
    const pidFile = path.join(fs.realpathSync(path.join(dataDir, 'postgres')), 'postmaster.pid');
    const postmaster = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    process.kill(postmaster, 'SIGKILL');

    // The backend notices its postmaster is gone and ends the connection: "terminating connection
    // due to unexpected postmaster exit" reaches the client while no statement is in flight.
    await child.line('{"level":40');
    child.send('release');
    expect(await child.line('tx-')).toMatch(/^tx-failed /);
    const before = child.lines().length;
    child.send('ping');
    expect(await child.line('ping-failed', before)).toMatch(/^ping-failed /);
    expect(child.alive()).toBe(true);
  });
});
