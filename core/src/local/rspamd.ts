import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { captureOutput, freePort, stopChild, waitUntil } from './process-utils.js';

/**
 * A PRIVATE rspamd (tests/helpers/rspamd.ts, bench/rspamd.mjs): Debian's rspamd with its own
 * configuration, run, log and database directories in a fresh temp directory, a normal worker
 * (checkv2) and a controller (learn, stat) on free loopback ports, and nothing else (no proxy,
 * no fuzzy storage). It runs offline: its resolver points at a loopback port nobody answers on
 * (or at `dnsServer`, e.g. a test dnsmasq), and the fuzzy module, which would ask rspamd.com's
 * servers, is off. Bayes keeps its tokens in the Redis given (a test's own database index).
 * Seen with rspamd 3.4: behind a Redis password it learns (and refuses a repeat) but its
 * classifier does not answer, so a test asserts learns through /stat, not BAYES_SPAM. The
 * compiled regular expressions (hyperscan) are cached in one directory shared by every
 * instance, so only the first start on a machine takes long. Stopped by its PID (SIGTERM to the
 * main process, which stops its workers).
 */

export const RSPAMD = '/usr/bin/rspamd';

export interface LocalRspamdOptions {
  /** Where Bayes keeps its tokens: `redis://host:port[/db]`. */
  redisUrl: string;
  /** The controller's password; set, it is required even from loopback (secure_ip is a TEST-NET address). */
  password?: string;
  /** `host:port` of a DNS server; default a loopback port nobody answers on. */
  dnsServer?: string;
  /** Bayes classifies once it has learned this many of each kind; default 1. */
  minLearns?: number;
  /** Normal worker processes; default 1. */
  workers?: number;
}

export interface LocalRspamd {
  /** The normal worker: RSPAMD_URL. */
  url: string;
  /** The controller: RSPAMD_CONTROLLER_URL. */
  controllerUrl: string;
  password: string | undefined;
  pid: number;
  /** The controller's /stat (scanned, learned, actions…). */
  stat(): Promise<{ scanned: number; learned: number } & Record<string, unknown>>;
  stop(): Promise<void>;
}

async function unansweredUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** rspamd's redis settings (servers, db, password) for a `redis://[:password@]host:port[/db]` URL. */
function redisSettings(redisUrl: string): string {
  const url = new URL(redisUrl);
  const db = url.pathname.replace(/^\//, '');
  const password = decodeURIComponent(url.password);
  if (/["\\]/.test(password)) throw new Error('rspamd helper: the Redis password may not contain quotes or backslashes');
  return [`servers = "${url.hostname}:${url.port || '6379'}";`, ...(db ? [`db = "${db}";`] : []), ...(password ? [`password = "${password}";`] : [])].join('\n');
}

export async function startLocalRspamd(options: LocalRspamdOptions): Promise<LocalRspamd> {
  if (!existsSync(RSPAMD)) throw new Error(`rspamd is not installed at ${RSPAMD}: apt-get install rspamd (npm test installs it)`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mailyard-rspamd-'));
  for (const sub of ['local.d', 'override.d', 'db', 'run', 'log']) mkdirSync(path.join(dir, sub));
  const hsCache = path.join(os.tmpdir(), 'mailyard-rspamd-hs-cache');
  mkdirSync(hsCache, { recursive: true });
  const [normalPort, controllerPort] = [await freePort(), await freePort()];
  const dns = options.dnsServer ?? `127.0.0.1:${await unansweredUdpPort()}`;
  const password = options.password;

  await fs.writeFile(
    path.join(dir, 'rspamd.conf'),
    `.include "$CONFDIR/common.conf"
options {
  pidfile = "$RUNDIR/rspamd.pid";
  .include "$CONFDIR/options.inc"
  .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}
logging {
  type = "file";
  filename = "$LOGDIR/rspamd.log";
  level = "warning";
}
worker "normal" {
  bind_socket = "127.0.0.1:${normalPort}";
  .include "$CONFDIR/worker-normal.inc"
  count = ${options.workers ?? 1};
}
worker "controller" {
  bind_socket = "127.0.0.1:${controllerPort}";
  .include "$CONFDIR/worker-controller.inc"
  count = 1;
${password ? `  password = "${password}";\n  enable_password = "${password}";\n  secure_ip = "192.0.2.1";` : '  secure_ip = "127.0.0.1";'}
}
`,
  );
  await fs.writeFile(path.join(dir, 'local.d/options.inc'), `dns {\n  nameserver = ["${dns}"];\n  timeout = 0.2s;\n  retransmits = 1;\n}\nhs_cache_dir = "${hsCache}/";\n`);
  await fs.writeFile(path.join(dir, 'override.d/fuzzy_check.conf'), 'enabled = false;\n');
  await fs.writeFile(
    path.join(dir, 'local.d/classifier-bayes.conf'),
    `${redisSettings(options.redisUrl)}\nmin_learns = ${options.minLearns ?? 1};\n`,
  );

  const vars = ['LOCAL_CONFDIR', 'DBDIR', 'RUNDIR', 'LOGDIR'].map((v, i) => `--var=${v}=${[dir, `${dir}/db`, `${dir}/run`, `${dir}/log`][i]}`);
  // -i: tests may run as root; rspamd would otherwise refuse to run its workers with privileges.
  const child = spawn(RSPAMD, ['-f', '-i', '-c', path.join(dir, 'rspamd.conf'), ...vars], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = captureOutput(child);
  const url = `http://127.0.0.1:${normalPort}`;
  const controllerUrl = `http://127.0.0.1:${controllerPort}`;
  const stop = async () => {
    await stopChild(child, 'SIGTERM');
    await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    const answers = async (base: string) => (await fetch(`${base}/ping`)).ok;
    await waitUntil('rspamd', async () => (await answers(url)) && (await answers(controllerUrl)), {
      timeoutMs: 120_000,
      child,
      output: () => `${output()}\n(log: ${dir}/log/rspamd.log)`,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    controllerUrl,
    password,
    pid: child.pid!,
    async stat() {
      const res = await fetch(`${controllerUrl}/stat`, { headers: password ? { Password: password } : {} });
      if (!res.ok) throw new Error(`rspamd /stat: HTTP ${res.status}`);
      return (await res.json()) as { scanned: number; learned: number };
    },
    stop,
  };
}
