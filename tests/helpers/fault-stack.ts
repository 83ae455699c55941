import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { createDb, migrateToLatest } from '../../core/src/db/index.js';
import { startLocalPostgres, startLocalRedis } from '../../core/src/local/index.js';
import { freePort } from '../../core/src/local/process-utils.js';
import { startDnsmasq, type TestDnsServer } from './dnsmasq.js';
import { startPostfixReceiver, type PostfixReceiver } from './postfix.js';
import { TEST_SECRET_KEY, testSecrets } from './secrets.js';
import { eventually, spawnService, waitForSmtpGreeting, type ServiceProcess } from './services.js';

/**
 * The stack the fault runs break, run apart as compose runs it: a private PostgreSQL with fsync on,
 * a private redis-server (AOF), smtp-server, inbound-worker, outbound-worker and backend as their
 * own processes from `dist`, dnsmasq for the remote domain's MX and a private Postfix as the remote
 * MTA. Every server can be SIGKILLed, paused and started again on the same port, and every exit
 * that the fault run did not cause is recorded.
 */

export const LOCAL_DOMAIN = 'faults.test';
export const REMOTE_DOMAIN = 'remote.test';
export const REMOTE_MAILBOX = `inbox@${REMOTE_DOMAIN}`;
export const SENDER_DOMAIN = 'sender.test';
export const APP_SERVICES = ['smtp-server', 'inbound-worker', 'outbound-worker', 'backend'] as const;
export type AppService = (typeof APP_SERVICES)[number];

export interface FaultUser {
  id: number;
  address: string;
  password: string;
}

/** /proc/<pid>/stat fields after the command name: [state, ppid, ...]. */
function procStat(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** A live (not zombie) process. */
export function processLives(pid: number): boolean {
  const f = procStat(pid);
  return f !== null && f[0] !== 'Z' && f[0] !== 'X';
}

function childrenOf(ppid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => Number(procStat(pid)?.[1]) === ppid);
}

/**
 * A server some other code started (startLocalPostgres, startLocalRedis), taken over by its pid:
 * it can be signalled with its children and started again exactly as it ran (argv, user, group,
 * working directory, environment), so it comes back on the same port with the same data.
 */
export class ServerProcess {
  private readonly argv: string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly cwd: string;
  private readonly ids: { uid: number; gid: number };
  /** Set while we stop it on purpose; an exit outside that is unexpected. */
  private expectingExit = false;
  unexpectedExits = 0;

  /** `argv`: how to start it, when the server rewrites its own command line (redis-server does). */
  constructor(
    readonly name: string,
    public pid: number,
    argv?: string[],
  ) {
    this.argv = argv ?? fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    this.env = Object.fromEntries(
      fs
        .readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .filter((kv) => kv.includes('='))
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    this.cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    this.ids = { uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]), gid: Number(/^Gid:\s+(\d+)/m.exec(status)?.[1]) };
  }

  /** The server and its direct children (PostgreSQL's backends and auxiliary processes). */
  tree(): number[] {
    return [this.pid, ...childrenOf(this.pid)];
  }

  signalTree(signal: NodeJS.Signals): void {
    for (const pid of this.tree()) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone meanwhile
      }
    }
  }

  alive(): boolean {
    return processLives(this.pid);
  }

  /** Signals the server (or its whole tree) and waits until every one of those processes is gone. */
  async stop(signal: NodeJS.Signals, options: { tree?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.expectingExit = true;
    const pids = options.tree ? this.tree() : [this.pid];
    if (options.tree) this.signalTree(signal);
    else process.kill(this.pid, signal);
    const all = new Set([...pids, ...(options.tree ? [] : childrenOf(this.pid))]);
    await eventually(async () => [...all].every((pid) => !processLives(pid)), { timeoutMs: options.timeoutMs ?? 30_000, describe: () => `${this.name} still running` });
  }

  /**
   * Starts the server again as it ran before; with `logFile`, its output is appended there (read it
   * when it does not come back).
   */
  start(logFile?: string): void {
    const [command, ...args] = this.argv;
    const out = logFile === undefined ? 'ignore' : fs.openSync(logFile, 'a');
    const child = spawn(command!, args, { cwd: this.cwd, env: this.env, ...this.ids, stdio: ['ignore', out, out], detached: false });
    if (typeof out === 'number') fs.closeSync(out); // the child has its own copy
    child.unref();
    this.pid = child.pid!;
    this.expectingExit = false;
    child.once('exit', () => {
      if (!this.expectingExit) this.unexpectedExits++;
    });
  }
}

export interface FaultStackOptions {
  users: number;
  /** LOG_LEVEL of the services. */
  logLevel?: string;
}

export interface FaultStack {
  dataDir: string;
  databaseUrl: string;
  postgres: ServerProcess;
  redis: ServerProcess;
  postfix: PostfixReceiver;
  users: FaultUser[];
  smtpPort: number;
  httpPort: number;
  services: Record<AppService, ServiceProcess>;
  /** Services that exited without being killed by the fault run, with their output. */
  unexpectedExits: string[];
  /** SIGKILLs one service and starts it again (ready again for smtp-server and backend). */
  killAndRestart(name: AppService): Promise<void>;
  /** Waits until the started services answer (SMTP greeting, /readyz). */
  waitReady(timeoutMs?: number): Promise<void>;
  /** Stops Redis (SIGTERM: it writes its AOF) and starts it again on the same port. */
  restartRedis(): Promise<void>;
  /** SIGKILLs the postmaster and every backend, then starts PostgreSQL again (crash recovery from the WAL). */
  killAndRestartPostgres(): Promise<void>;
  /** SIGSTOPs the postmaster and its children for `ms`, then SIGCONTs them. */
  pausePostgres(ms: number): Promise<void>;
  /** A pg Pool for the harness's own queries (fresh per call site; end it). */
  query<T extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  stop(): Promise<void>;
}

const PASSWORD = 'fault run password';

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts everything; on a failure part-way, stops what was started and rethrows. */
export async function startFaultStack(options: FaultStackOptions): Promise<FaultStack> {
  const cleanups: Array<() => Promise<void> | void> = [];
  const runCleanups = async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  };
  try {
    // Under the system temp folder: as root, PostgreSQL runs as the postgres user and must reach it.
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-faults-'));
    fs.chmodSync(dataDir, 0o755);
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));

    // fsync on: no unsafeFastMode. The first start runs initdb and creates the database.
    const localPg = await startLocalPostgres({ dataDir });
    const pgDataDir = fs.realpathSync(path.join(dataDir, 'postgres'));
    const postgres = new ServerProcess('postgres', Number(fs.readFileSync(path.join(pgDataDir, 'postmaster.pid'), 'utf8').split('\n')[0]));
    cleanups.push(async () => {
      if (postgres.alive()) await postgres.stop('SIGINT', { timeoutMs: 30_000 }).catch(() => postgres.stop('SIGKILL', { tree: true }));
    });
    const localRedis = await startLocalRedis({ dataDir, persistent: true });
    const redisPid = Number(JSON.parse(fs.readFileSync(path.join(dataDir, 'redis', 'server.json'), 'utf8')).pid);
    const redis = new ServerProcess('redis', redisPid, ['redis-server', path.join(dataDir, 'redis', 'redis.conf')]);
    cleanups.push(async () => {
      if (redis.alive()) await redis.stop('SIGTERM').catch(() => redis.stop('SIGKILL'));
    });

    const pool = new pg.Pool({ connectionString: localPg.url, max: 4 });
    pool.on('error', () => undefined); // idle clients die with PostgreSQL during the faults
    cleanups.push(() => pool.end());
    const fsync = (await pool.query<{ fsync: string }>('SHOW fsync')).rows[0]?.fsync;
    if (fsync !== 'on') throw new Error(`the fault runs need PostgreSQL with fsync on, got fsync=${fsync}`);

    const { db } = createDb({ connectionString: localPg.url, max: 2 });
    const users: FaultUser[] = [];
    try {
      await migrateToLatest(db);
      const accounts = createAccountsService({ db, secrets: testSecrets });
      await accounts.addDomain(LOCAL_DOMAIN);
      for (let i = 0; i < options.users; i++) {
        const address = `u${String(i).padStart(2, '0')}@${LOCAL_DOMAIN}`;
        users.push({ id: (await accounts.addUser({ address, password: PASSWORD })).id, address, password: PASSWORD });
      }
    } finally {
      await db.destroy();
    }

    const dns: TestDnsServer = await startDnsmasq({
      mx: [{ name: REMOTE_DOMAIN, host: `mx.${REMOTE_DOMAIN}`, priority: 10 }],
      a: [{ name: `mx.${REMOTE_DOMAIN}`, address: '127.0.0.2' }],
      localDomains: [REMOTE_DOMAIN, SENDER_DOMAIN, LOCAL_DOMAIN],
    });
    cleanups.push(() => dns.stop());
    const postfix = await startPostfixReceiver({ host: '127.0.0.2', domains: [REMOTE_DOMAIN], mailboxes: [REMOTE_MAILBOX] });
    cleanups.push(() => postfix.stop());

    const smtpPort = await freePort();
    const httpPort = await freePort();
    const env: Record<string, string> = {
      DATABASE_URL: localPg.url,
      REDIS_URL: localRedis.url,
      DNS_SERVERS: dns.server,
      MAIL_HOSTNAME: `mx.${LOCAL_DOMAIN}`,
      BIND_ADDRESS: '127.0.0.1',
      DATA_DIR: path.join(dataDir, 'app'),
      LOG_LEVEL: options.logLevel ?? 'warn',
      SECRET_KEY: TEST_SECRET_KEY, // opens the DKIM keys sealed above
      SMTP_PORT: String(smtpPort),
      SUBMISSION_PORT: '0',
      SMTPS_PORT: '0',
      HTTP_PORT: String(httpPort),
      HTTPS_PORT: '0',
      SMTP_MAX_CONNECTIONS_PER_IP: '1000',
      SMTP_MAX_MESSAGES_PER_IP_PER_MINUTE: '1000000',
      SMTP_MAX_MESSAGES_PER_CONNECTION: '100000',
      // Time-compressed recovery: lost jobs, stalled jobs and expired leases come back in seconds.
      SPOOL_RECONCILE_INTERVAL_MS: '2000',
      SPOOL_RECONCILE_AGE_MS: '3000',
      INBOUND_LOCK_MS: '5000',
      OUTBOUND_SMTP_PORT: String(postfix.port),
      OUTBOUND_ALLOW_PRIVATE: 'true',
      OUTBOUND_RETRY_SCHEDULE: '1s',
      // Longer than the PostgreSQL pause (10 s) plus a delivery: a delivery the remote accepted just as the store
      // stopped answering is recorded when it answers again, within the lease. A lease no longer than the outage
      // lets the recipients be claimed and sent again (at-least-once; production's lease is 15 minutes).
      OUTBOUND_LEASE: '25s',
      OUTBOUND_RECONCILE_INTERVAL: '2s',
    };
    fs.mkdirSync(env.DATA_DIR!, { recursive: true });

    const unexpectedExits: string[] = [];
    const killing = new Set<AppService>();
    const services = {} as Record<AppService, ServiceProcess>;
    const launch = (name: AppService) => {
      const service = spawnService(name, env);
      services[name] = service;
      void service.exited.then((code) => {
        if (!killing.has(name) && services[name] === service) unexpectedExits.push(`${name} exited (${code ?? service.child.signalCode}):\n${service.output().slice(-3000)}`);
      });
    };
    cleanups.push(async () => {
      for (const name of APP_SERVICES) {
        killing.add(name);
        await services[name]?.kill();
      }
    });
    for (const name of APP_SERVICES) launch(name);

    const waitReady = async (timeoutMs = 180_000) => {
      await waitForSmtpGreeting(smtpPort, timeoutMs).catch((err: Error) => {
        throw new Error(`${err.message}\n${unexpectedExits.join('\n')}\n${services['smtp-server'].output().slice(-3000)}`);
      });
      await eventually(async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null))?.status === 200, {
        timeoutMs,
        describe: () => services.backend.output(),
      });
    };
    await waitReady();

    return {
      dataDir,
      databaseUrl: localPg.url,
      postgres,
      redis,
      postfix,
      users,
      smtpPort,
      httpPort,
      services,
      unexpectedExits,
      async killAndRestart(name) {
        killing.add(name);
        await services[name].kill();
        launch(name);
        killing.delete(name);
        if (name === 'smtp-server') await waitForSmtpGreeting(smtpPort, 180_000);
        if (name === 'backend') await waitReady();
      },
      waitReady,
      async restartRedis() {
        await redis.stop('SIGTERM');
        redis.start();
        await eventually(() => tcpAccepts(localRedis.port), { timeoutMs: 30_000, describe: () => 'Redis did not come back' });
      },
      async killAndRestartPostgres() {
        await postgres.stop('SIGKILL', { tree: true });
        // Every process of the old server is gone, so its lock file is stale: were its PID taken
        // meanwhile by another process of the postgres user (another test's server), the new
        // postmaster would refuse to start ("Is another postmaster running?").
        fs.rmSync(path.join(pgDataDir, 'postmaster.pid'), { force: true });
        const log = path.join(dataDir, 'postgres-restart.log');
        postgres.start(log);
        const tail = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : '(no output)');
        await eventually(() => pool.query('SELECT 1').then(() => true, () => false), { timeoutMs: 90_000, describe: () => `PostgreSQL did not come back; its output:\n${tail()}` });
      },
      async pausePostgres(ms) {
        postgres.signalTree('SIGSTOP');
        try {
          await new Promise((r) => setTimeout(r, ms)); // the fault's length, not a wait for a condition
        } finally {
          postgres.signalTree('SIGCONT');
        }
      },
      async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) {
        return (await pool.query<T>(sql, params)).rows;
      },
      stop: runCleanups,
    };
  } catch (err) {
    await runCleanups();
    throw err;
  }
}
