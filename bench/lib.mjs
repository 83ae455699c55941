// Shared by the benchmarks: child processes that are always stopped by PID, cleanup steps that
// run in a finally block, percentiles, /proc memory and CPU readings, BENCH_ONLY and signal
// handling, pg_stat_statements on a private PostgreSQL. Plain Node; `pg` only for the statement helpers.
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** Where the benchmarks live and write: bench/.data for run directories, bench/results for JSON. */
export const BENCH = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(BENCH, '..');
export const DATA_ROOT = path.join(BENCH, '.data');
export const RESULTS = path.join(BENCH, 'results');

/** Debian's Postfix tools the benchmarks drive. */
export const SMTP_SOURCE = '/usr/sbin/smtp-source';
export const SMTP_SINK = '/usr/sbin/smtp-sink';
export const POSTFIX = '/usr/sbin/postfix';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const round = (n, digits = 1) => (n === null || n === undefined || Number.isNaN(n) ? null : Math.round(n * 10 ** digits) / 10 ** digits);

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Steps to run at the end (last pushed runs first), and every child still alive. */
export const cleanups = [];
const children = new Set();

/** Spawns a child we own: its output is kept (tail) and optionally logged to a file. */
export function startChild(command, args, options = {}) {
  const { logFile, ...spawnOptions } = options;
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let tail = '';
  const out = logFile ? fs.createWriteStream(logFile) : null;
  const onData = (chunk) => {
    tail = (tail + chunk.toString()).slice(-8000);
    out?.write(chunk);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  child.once('exit', () => out?.end());
  child.tail = () => tail;
  return child;
}

export const exited = (child) => child.exitCode !== null || child.signalCode !== null;

/** Signals one child by its PID and waits for it; SIGKILL after the timeout. */
export async function stopPid(child, signal = 'SIGTERM', timeoutMs = 20_000) {
  if (!child || exited(child)) return;
  const done = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(child.pid, signal);
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, timeoutMs);
  await done;
  clearTimeout(timer);
}

export async function runCleanups(tag) {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (err) {
      console.error(`[${tag}] cleanup step failed: ${err.message}`);
    }
  }
  for (const child of [...children]) await stopPid(child, 'SIGKILL', 2_000);
}

/** Peak and current resident memory of a process, in kB (null when it is gone). */
export function memoryKb(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => {
      const m = text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
      return m ? Number(m[1]) : null;
    };
    return { vmHWMKb: kb('VmHWM'), vmRSSKb: kb('VmRSS') };
  } catch {
    return { vmHWMKb: null, vmRSSKb: null };
  }
}

// ---------------------------------------------------------------------------------------------
// Run control shared by the benchmarks.

/** A whole-number setting from the environment (`fallback` when unset); anything else ends the bench (exit 2) with a line naming the variable. */
export function envCount(name, fallback, min = 1) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (Number.isInteger(n) && n >= min) return n;
  console.error(`${name}=${raw}: expected a whole number ≥ ${min} (unset: ${fallback})`);
  process.exit(2);
}

/** `BENCH_NODE_FLAGS='--trace-opt …'`: node flags for the services a bench measures (flags NODE_OPTIONS refuses). */
export const benchNodeFlags = (env = process.env.BENCH_NODE_FLAGS) => (env ?? '').split(' ').filter(Boolean);

/** `BENCH_ONLY=a,b`: a predicate saying whether a target should run (all when unset). */
export function onlyFilter(env = process.env.BENCH_ONLY) {
  const only = env ? new Set(env.split(',').map((s) => s.trim())) : null;
  return (name) => !only || only.has(name);
}

/** console.log with the seconds since start. */
export const benchLog = (...args) => console.log(`[bench +${(performance.now() / 1000).toFixed(1)}s]`, ...args);

/** Ctrl-C / SIGTERM: stop everything started (runCleanups), then exit 130; a second signal exits at once. */
export function stopOnSignals() {
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      console.error(`\n[bench] ${signal}: stopping everything this benchmark started…`);
      void runCleanups('bench').finally(() => process.exit(130));
    });
  }
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc.

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export function procStat(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** utime+stime (+ reaped children's) of one process, in seconds; null when it is gone. */
export function cpuSeconds(pid, withReapedChildren = false) {
  const f = procStat(pid);
  if (!f) return null;
  // f[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
  let ticks = Number(f[11]) + Number(f[12]);
  if (withReapedChildren) ticks += Number(f[13]) + Number(f[14]);
  return ticks / CLK_TCK;
}

export function childPids(ppid) {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = procStat(entry);
    if (f && Number(f[1]) === ppid) pids.push(Number(entry));
  }
  return pids;
}

/** CPU of a process tree (two levels): the root with its reaped children, plus its live children. */
export function treeCpuSeconds(rootPid) {
  if (!rootPid) return null;
  const own = cpuSeconds(rootPid, true);
  if (own === null) return null;
  let total = own;
  for (const pid of childPids(rootPid)) total += cpuSeconds(pid, true) ?? 0;
  return total;
}

export function systemCpu() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line;
  return { busy: (user + nice + system + irq + softirq + steal) / CLK_TCK, iowait: iowait / CLK_TCK, idle: idle / CLK_TCK };
}

/** Every process's own CPU seconds and its reaped children's, by PID (with its command name). */
export function allProcesses() {
  const out = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(entry, { comm, self: (Number(f[11]) + Number(f[12])) / CLK_TCK, children: (Number(f[13]) + Number(f[14])) / CLK_TCK });
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

/**
 * Where the machine's CPU went between two allProcesses() snapshots, by command name: a process's
 * own time, plus the time of children it reaped meanwhile (short-lived Postfix smtp processes,
 * postsuper ...) as "<name> (reaped children)". Includes processes of other sessions on the machine.
 */
export function topProcesses(a, b, seconds, labels = {}, limit = 10) {
  const by = new Map();
  const add = (name, cpu) => cpu > 0 && by.set(name, (by.get(name) ?? 0) + cpu);
  for (const [pid, now] of b) {
    const then = a.get(pid);
    if (then && then.comm !== now.comm) continue; // PID reused
    const name = labels[pid] ?? now.comm;
    add(name, now.self - (then?.self ?? 0));
    if (then) add(`${name} (reaped children)`, now.children - then.children);
  }
  return [...by.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, limit)
    .map(([name, cpu]) => ({ name, cores: round(cpu / seconds, 2) }));
}

/** Snapshot of the CPU seconds of named process trees and of the machine. */
export function cpuSnapshot(pids) {
  const out = { system: systemCpu() };
  for (const [name, pid] of Object.entries(pids)) out[name] = pid ? treeCpuSeconds(pid) : null;
  return out;
}

/** Cores used per process between two snapshots (CPU seconds / wall seconds). */
export function coresBetween(a, b, seconds) {
  const out = {};
  for (const key of Object.keys(b)) {
    if (key === 'system') continue;
    out[key] = a[key] === null || b[key] === null || a[key] === undefined ? null : round((b[key] - a[key]) / seconds, 2);
  }
  out.wholeMachine = round((b.system.busy - a.system.busy) / seconds, 2);
  out.iowait = round((b.system.iowait - a.system.iowait) / seconds, 2);
  return out;
}

/** Waits until something on host:port answers with a 220 banner. */
export async function waitForBanner(host, port, { timeoutMs = 30_000, child } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && exited(child)) throw new Error(`process exited before listening on ${host}:${port}:\n${child.tail()}`);
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, host);
      let data = '';
      socket.setTimeout(1000, () => socket.destroy());
      socket.on('error', () => resolve(false));
      socket.on('data', (chunk) => {
        data += chunk.toString();
        if (/^220[ -]/m.test(data)) {
          socket.end('QUIT\r\n');
          resolve(true);
        }
      });
      socket.on('close', () => resolve(/^220[ -]/m.test(data)));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing answered 220 on ${host}:${port} within ${timeoutMs} ms${child ? `:\n${child.tail()}` : ''}`);
}

/**
 * The end of a run: results to `<resultsDir>/<fileName>` (JSON), the table printed, the run
 * directory removed unless BENCH_KEEP is set or the run failed, and a failure reported (exit 1).
 */
export function finishRun({ root, resultsDir, fileName, results, printTable, runDir, failure, kept }) {
  fs.mkdirSync(resultsDir, { recursive: true });
  const out = path.join(resultsDir, fileName);
  fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  printTable(results);
  console.log(`\nResults: ${path.relative(root, out)}`);
  if (!process.env.BENCH_KEEP && !failure) fs.rmSync(runDir, { recursive: true, force: true });
  else console.log(`Run data kept in ${path.relative(root, runDir)} (${kept})`);
  if (failure) {
    console.error(`\nbenchmark failed: ${failure.stack ?? failure}`);
    process.exitCode = 1;
  }
}

/**
 * Removes old run directories `<dataRoot>/<prefix>*` whose servers are gone (`pidFiles(dir)`
 * lists the pid files that would show one still running); only ever under bench/.data.
 */
export function pruneOldRuns(dataRoot, prefix, pidFiles) {
  if (!fs.existsSync(dataRoot)) return;
  for (const name of fs.readdirSync(dataRoot)) {
    if (!name.startsWith(prefix)) continue;
    const dir = path.join(dataRoot, name);
    const live = pidFiles(dir).some((f) => {
      try {
        const pid = Number(fs.readFileSync(f, 'utf8').trim().split('\n')[0]);
        if (!(pid > 0)) return false;
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    if (live) console.warn(`[bench] leaving ${dir}: a server from an earlier run still uses it`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs a load generator to its end, SIGKILLed after `timeoutMs`: exit code (or signal), wall
 * seconds, the non-empty lines it wrote (smtp-source's warnings), whether it timed out.
 */
export async function runBounded(command, args, { cwd, timeoutMs }) {
  const t0 = performance.now();
  const child = startChild(command, args, { cwd });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, timeoutMs);
  const code = await new Promise((resolve) => child.once('exit', (c, s) => resolve(c ?? s)));
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  const lines = child.tail().trim().split('\n').filter(Boolean);
  return { code, seconds, lines, timedOut };
}

/**
 * Writes the configuration of a private Postfix instance under `dir` (etc/, spool/, lib/ and
 * `maillog`), never touching the system's: main.cf = the common lines below + `settings`;
 * master.cf = Debian's, with smtpd on `listen` (host:port) and chroot off everywhere.
 */
export function writePrivatePostfix(dir, { listen, comment, settings }) {
  const etc = path.join(dir, 'etc');
  const queue = path.join(dir, 'spool');
  const data = path.join(dir, 'lib');
  const maillog = path.join(dir, 'maillog');
  for (const d of [etc, queue, data]) fs.mkdirSync(d, { recursive: true });
  execFileSync('chown', ['postfix', data]); // master.lock lives there; it belongs to mail_owner
  const common = [
    `# ${comment}`,
    'compatibility_level = 3.6',
    `queue_directory = ${queue}`,
    `data_directory = ${data}`,
    'mail_owner = postfix',
    'setgid_group = postdrop',
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'mydomain = bench.local',
    'myorigin = bench.local',
    'mynetworks = 127.0.0.0/8',
    'smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination',
    'alias_maps =',
    'alias_database =',
    'local_recipient_maps =',
    'biff = no',
    `maillog_file_prefixes = ${dir}`,
    `maillog_file = ${maillog}`,
  ];
  const mainCf = [...common, ...settings];
  fs.writeFileSync(path.join(etc, 'main.cf'), [...mainCf, ''].join('\n'));
  const master = fs
    .readFileSync('/etc/postfix/master.cf', 'utf8')
    .split('\n')
    .map((line) => {
      if (/^[#\s]/.test(line) || line.trim() === '') return line;
      const f = line.trim().split(/\s+/);
      if (f.length < 8) return line;
      if (f[0] === 'smtp' && f[1] === 'inet') f[0] = listen;
      f[4] = 'n';
      return f.join('  ');
    })
    .join('\n');
  fs.writeFileSync(path.join(etc, 'master.cf'), master);
  return { etc, queue, data, maillog, settings: mainCf.filter((l) => l && !l.startsWith('#')) };
}

/**
 * What a result file records about where it ran: git commit (and the tracked files changed), the
 * machine, Node, and Postfix's version when it is installed. `extra` adds fields of one benchmark.
 */
export function machineInfo(extra = {}) {
  let git = null;
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const changed = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    git = { commit, dirty: changed.length > 0, changedFiles: changed.map((l) => l.slice(3)) };
  } catch {
    /* not a git checkout */
  }
  let postfix = null;
  try {
    postfix = execFileSync('/usr/sbin/postconf', ['-d', '-h', 'mail_version'], { encoding: 'utf8' }).trim();
  } catch {
    /* no Postfix */
  }
  return {
    git,
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    memTotalGiB: round(os.totalmem() / 2 ** 30, 1),
    loadAverageAtStart: os.loadavg().map((x) => round(x, 2)),
    kernel: os.release(),
    node: process.version,
    postfix,
    ...extra,
  };
}

/**
 * Checks and starts a private Postfix written by writePrivatePostfix, registers its stop (bounded
 * wait for its master, then SIGKILL of that master's group) with the cleanups, and waits for its
 * 220 on host:port. Throws with the log's tail when it does not start.
 */
export async function startPrivatePostfix({ dir, etc, queue, maillog, host, port }) {
  const pf = (...args) => promisify(execFile)(POSTFIX, ['-c', etc, ...args], { cwd: dir, timeout: 60_000 });
  await pf('check').catch((err) => {
    throw new Error(`postfix check failed: ${err.stderr || err.message}`);
  });
  const masterPid = () => {
    try {
      return Number(fs.readFileSync(path.join(queue, 'pid', 'master.pid'), 'utf8').trim()) || null;
    } catch {
      return null;
    }
  };
  let started = false;
  cleanups.push(async () => {
    if (!started) return;
    const pid = masterPid();
    await pf('stop').catch((err) => console.error(`[bench] postfix stop: ${err.stderr || err.message}`));
    const alive = () => {
      try {
        if (pid) process.kill(pid, 0);
        return Boolean(pid);
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && alive()) await sleep(200);
    if (alive()) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  try {
    await pf('start');
    started = true;
  } catch (err) {
    let tail = '';
    try {
      tail = fs.readFileSync(maillog, 'utf8').split('\n').slice(-10).join('\n');
    } catch {
      /* no log */
    }
    throw new Error(`postfix start failed: ${err.stderr || err.message}\n${tail}`);
  }
  await waitForBanner(host, port);
  return { pf, masterPid };
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// pg_stat_statements on a bench's private PostgreSQL (BENCH_PG_STATEMENTS=1).

/**
 * A pool of ~200 common English words: the cost benches' "prose" bodies draw from it, so their text has
 * about the number of distinct words of real mail.
 */
export const WORD_POOL = (
  'the of and to in is for on with as project deadline update please review attached draft customer order shipping invoice payment team ' +
  'schedule call tomorrow today next week monday friday plan design server release version feature bug fix test deploy data report numbers ' +
  'sales revenue cost travel hotel flight conference agenda notes follow up question answer thanks regards best office lunch dinner weekend ' +
  'holiday contract legal signature approval manager client account password security login backup storage network email calendar invite ' +
  'event photo video document spreadsheet presentation slide budget forecast target goal quarter year month status progress risk issue ticket ' +
  'support request feedback survey results analysis summary overview detail change proposal offer price discount product service launch ' +
  'marketing campaign newsletter website blog article press media social partner vendor supplier delivery warehouse inventory stock item ' +
  'package tracking receipt refund return policy terms privacy training course workshop webinar recording link file folder share access ' +
  'permission lead engineer developer designer analyst intern candidate interview hiring onboarding'
).split(' ');

/** Words of the pool (its first `poolSize`), numbers mixed in, until the text is at least `length` characters long. */
export function proseWords(next, length, poolSize = WORD_POOL.length) {
  let s = '';
  while (s.length < length) {
    const r = next();
    s += WORD_POOL[r % poolSize] + (r % 9 === 0 ? ` ${r % 100000}` : '') + ' ';
  }
  return s;
}

/** A deterministic pseudo-random sequence (a linear congruential generator), so that every variant of a bench gets the same data. */
export function sequence(seed) {
  let k = seed;
  return () => (k = (k * 1103515245 + 12345) & 0x7fffffff);
}

/**
 * A private PostgreSQL for a statement-cost bench: started by `start()` (core's startLocalPostgres on
 * a fresh directory), with the real schema (`mailyard migrate`), `domain` and the `users` (addresses).
 * Its `stop` also takes it off the cleanups.
 */
export async function startSchemaDatabase(start, { domain, users }) {
  const server = await start();
  const stop = () => {
    const i = cleanups.indexOf(stop);
    if (i >= 0) cleanups.splice(i, 1);
    return server.stop();
  };
  cleanups.push(stop);
  const env = { ...process.env, DATABASE_URL: server.url, LOG_LEVEL: 'warn' };
  const cli = (...args) => execFileSync(process.execPath, [path.join(ROOT, 'bin/mailyard.mjs'), ...args], { env, stdio: 'ignore' });
  cli('migrate', '--no-backup');
  cli('domain', 'add', domain);
  for (const address of users) cli('user', 'add', address, '--password', 'cost-bench-password-1');
  return { url: server.url, stop };
}

/**
 * Loads pg_stat_statements into a private PostgreSQL started by `start()` (core's startLocalPostgres
 * for one data directory): the library loads at server start only, so it is set, the server is
 * stopped and started again, and the extension created. Returns the running server.
 */
export async function startPostgresWithStatements(start) {
  const { default: pg } = await import('pg');
  const first = await start();
  try {
    const c = new pg.Client({ connectionString: first.url });
    await c.connect();
    await c.query(`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`);
    await c.query(`ALTER SYSTEM SET pg_stat_statements.track = 'all'`);
    await c.end();
  } finally {
    await first.stop();
  }
  const server = await start();
  try {
    const d = new pg.Client({ connectionString: server.url });
    await d.connect();
    await d.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await d.end();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/**
 * The statements that took the most time since the last `pg_stat_statements_reset()`, per `unit`
 * (a message, a round of a command mix): calls per unit, µs per unit (= ms per 1,000 units), mean
 * µs per call, WAL bytes and buffer blocks per unit. `exclude`: LIKE patterns of the bench's own queries.
 */
export async function topStatements(db, units, { exclude = [], limit = 15, width = 140 } = {}) {
  const patterns = ['%pg_stat_statements%', ...exclude];
  const { rows } = await db.query(
    `SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), $3) AS query, calls::bigint AS calls, total_exec_time AS total_ms, wal_bytes::bigint AS wal_bytes, shared_blks_hit + shared_blks_read AS blocks
       FROM pg_stat_statements WHERE NOT (query ILIKE ANY ($1::text[])) ORDER BY total_exec_time DESC LIMIT $2`,
    [patterns, limit, width],
  );
  return rows.map((r) => ({
    query: r.query,
    calls: Number(r.calls),
    callsPerUnit: round(Number(r.calls) / units, 2),
    usPerUnit: round((r.total_ms / units) * 1000, 0),
    meanUs: round((r.total_ms / Number(r.calls)) * 1000, 0),
    walBytesPerUnit: round(Number(r.wal_bytes) / units, 0),
    blocksPerUnit: round(Number(r.blocks) / units, 1),
  }));
}
