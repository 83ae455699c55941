import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../core/src/local/process-utils.js';
import { eventually, runCommand, waitForSmtpGreeting } from './services.js';

/**
 * A real receiving MTA for outbound-mail tests: a PRIVATE instance of Debian's Postfix, with its own
 * config, queue and data directories under a fresh temp directory, listening on one loopback
 * address and a free port. It never touches /etc/postfix's system instance or port 25, and
 * several instances can run at once (each on its own host/port, with its own queue).
 *
 * Mail to `mailboxes` is delivered by Postfix's `virtual` agent into Maildirs; any other recipient
 * in `domains` gets Postfix's own `550 5.1.1 ... User unknown in virtual mailbox table` at RCPT.
 * With `policy`, every RCPT is also handed to a policy delegation server running inside the test
 * process, so a test can answer e.g. 450 first and DUNNO afterwards.
 *
 * Needs root (Postfix's master starts as root and drops to the `postfix` user).
 */

export const POSTFIX = '/usr/sbin/postfix';
export const hasPostfix = existsSync(POSTFIX);

export interface PostfixReceiverOptions {
  /** Loopback address to listen on; default 127.0.0.2 (not 127.0.0.1, see STACK-NOTES on MX loops). */
  host?: string;
  /** Domains this receiver is the final destination for (virtual mailbox domains). */
  domains: string[];
  /** Full addresses delivered to Maildirs; other addresses in `domains` are rejected with 550 5.1.1. */
  mailboxes: string[];
  /**
   * Policy delegation: called once per RCPT with Postfix's request attributes (`recipient`,
   * `sender`, `client_address`, `protocol_state`, ...). Returns the action: `DUNNO` (carry on),
   * `450 4.2.0 try again later`, `550 5.7.1 no`, ... A throw answers `451 4.3.0`.
   */
  policy?: (request: Record<string, string>) => string | Promise<string>;
  /**
   * Makes this instance also a relay: mail it receives for `domains` is sent on by Postfix's smtp
   * client to `host:port` (with Postfix's own queue and retries; e.g. to our MX for greylisting).
   */
  relay?: { domains: string[]; host: string; port: number };
  /** Extra main.cf settings, written last so they win (e.g. `{ message_size_limit: '20000' }`). */
  settings?: Record<string, string>;
}

export interface PostfixReceiver {
  host: string;
  port: number;
  /** The instance's temp directory (config in etc/, log in maillog), for debugging. */
  dir: string;
  /**
   * Messages delivered to `address`, oldest first. The bytes are the Maildir file with its line
   * endings turned back into CRLF (Postfix stores LF), so a sent message is a suffix of the
   * delivered one: Postfix prepends `Return-Path:`, `X-Original-To:`, `Delivered-To:` and its
   * `Received:` header.
   */
  messagesFor(address: string): Promise<Buffer[]>;
  /** Polls until at least `n` messages were delivered to `address`; resolves with all of them. */
  waitForMessages(address: string, n: number, timeoutMs?: number): Promise<Buffer[]>;
  /** How many policy requests the policy server has answered so far (live value). */
  readonly policyRequests: number;
  /** Postfix's log (maillog_file) so far. */
  log(): Promise<string>;
  /** Stops Postfix (waits until its processes are gone) and the policy server, removes the temp dir. */
  stop(): Promise<void>;
}

interface PolicyServer {
  port: number;
  requests(): number;
  close(): Promise<void>;
}

/**
 * Postfix's policy delegation protocol: the client sends `name=value` lines ended by an empty
 * line, the server answers `action=...` and an empty line; one connection carries many requests.
 */
async function startPolicyServer(policy: NonNullable<PostfixReceiverOptions['policy']>): Promise<PolicyServer> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    let chain = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\n\n')) !== -1) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const attrs: Record<string, string> = {};
        for (const line of block.split('\n')) {
          const eq = line.indexOf('=');
          if (eq > 0) attrs[line.slice(0, eq)] = line.slice(eq + 1);
        }
        // Answer in order even if `policy` is async.
        chain = chain.then(async () => {
          let action: string;
          try {
            action = await policy(attrs);
          } catch (err) {
            action = `451 4.3.0 test policy failed: ${(err as Error).message}`;
          }
          count++;
          if (!socket.destroyed) socket.write(`action=${action.replace(/[\r\n]+/g, ' ')}\n\n`);
        });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    requests: () => count,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function idOf(flag: '-u' | '-g', user: string): number {
  return Number(execFileSync('id', [flag, user]).toString().trim());
}

function groupId(group: string): number {
  return Number(execFileSync('getent', ['group', group]).toString().split(':')[2]);
}

/**
 * Live processes of a process group (the master is a session leader: its children share its
 * pgid). Read from /proc because a daemonised master is re-parented to PID 1, which may reap it
 * late: a zombie still answers kill(pid, 0) but is gone for our purposes.
 */
function liveGroupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') pids.push(Number(entry));
  }
  return pids;
}

/** Sockets listening on host:port (IPv4), from /proc/net/tcp. */
function listenersOn(host: string, port: number): number {
  const hexHost = host.split('.').map((octet) => Number(octet).toString(16).padStart(2, '0').toUpperCase()).reverse().join('');
  const local = `${hexHost}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
  return readFileSync('/proc/net/tcp', 'latin1')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1] === local && fields[3] === '0A'; // 0A = LISTEN
    }).length;
}

/**
 * The queue directory layout `postfix check` would create (post-install create-missing), made
 * here so that start-up can skip Postfix's integrity checks: those walk the shared install
 * (/usr/lib/postfix, /etc/postfix) and cost over 2 s per instance.
 */
async function createQueueDirectories(queue: string, postfixUid: number, postdropGid: number): Promise<void> {
  const dirs: Array<[name: string, mode: number, uid: number, gid: number]> = [
    ...['active', 'bounce', 'corrupt', 'defer', 'deferred', 'flush', 'hold', 'incoming', 'private', 'saved', 'trace'].map(
      (name): [string, number, number, number] => [name, 0o700, postfixUid, 0],
    ),
    ['maildrop', 0o730, postfixUid, postdropGid],
    ['public', 0o710, postfixUid, postdropGid],
    ['pid', 0o755, 0, 0],
  ];
  for (const [name, mode, uid, gid] of dirs) {
    const dir = path.join(queue, name);
    await fs.mkdir(dir);
    await fs.chown(dir, uid, gid);
    await fs.chmod(dir, mode); // after chown, and not subject to the umask
  }
  // postfix-script: "if [ -f $queue_directory/quick-start ]" then skip the checks (it removes the file).
  await fs.writeFile(path.join(queue, 'quick-start'), '');
}

function mainCf(p: {
  dir: string;
  host: string;
  domains: string[];
  uid: number;
  gid: number;
  policyPort: number | null;
  settings: Record<string, string>;
}): string {
  const etc = path.join(p.dir, 'etc');
  const extra = Object.entries(p.settings).map(([name, value]) => `${name} = ${value}`).join('\n');
  const restrictions = ['reject_unlisted_recipient', ...(p.policyPort ? [`check_policy_service inet:127.0.0.1:${p.policyPort}`] : [])];
  return `# Private test instance (written by tests/helpers/postfix.ts). Nothing is shared with /etc/postfix.
compatibility_level = 3.6
queue_directory = ${p.dir}/queue
data_directory = ${p.dir}/data
# The listener's address is in master.cf. inet_interfaces only accepts addresses configured on an
# interface (127.0.0.2 is not, it is merely routed to lo), so it stays at loopback-only.
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mx-${p.host.replace(/\./g, '-')}.postfix.test
mydestination =
# Loopback clients are exempt from anvil's rate limits; relaying stays refused (no permit_mynetworks).
mynetworks = 127.0.0.0/8
smtputf8_enable = no
biff = no
readme_directory = no

# Logging: postlogd writes this file (Postfix only allows files under maillog_file_prefixes).
maillog_file = ${p.dir}/maillog
maillog_file_prefixes = ${p.dir}

# Receive only: no local delivery, no aliases, nothing is ever sent or relayed out (bounces die here).
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:local delivery disabled in this test instance
default_transport = error:outbound delivery disabled in this test instance
relay_transport = error:relaying disabled in this test instance
relay_domains =
notify_classes =

# Delivery: the virtual agent writes Maildirs (a map value ending in "/") as the postfix user.
virtual_mailbox_domains = ${p.domains.join(', ')}
virtual_mailbox_maps = texthash:${etc}/vmailbox
virtual_mailbox_base = ${p.dir}/mail
virtual_uid_maps = static:${p.uid}
virtual_gid_maps = static:${p.gid}
virtual_minimum_uid = ${p.uid}

# Retry soon if a delivery is deferred (tests wait for mail).
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s

# Do not touch message headers (no added Message-ID/Date, no address rewriting): bytes stay as sent.
local_header_rewrite_clients =
remote_header_rewrite_domain =

# SMTP server: unknown users get 550 5.1.1 at RCPT; the optional policy service runs after that.
smtpd_banner = $myhostname ESMTP Postfix (mailyard test receiver)
smtpd_peername_lookup = no
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = ${restrictions.join(', ')}

# STARTTLS offered (not required) with a self-signed certificate; no session cache (no tlsmgr db).
smtpd_tls_security_level = may
smtpd_tls_cert_file = ${etc}/cert.pem
smtpd_tls_key_file = ${etc}/key.pem
smtpd_tls_session_cache_database =
smtpd_tls_loglevel = 1
${extra ? `\n# Settings from the test\n${extra}\n` : ''}`;
}

/** main.cf settings that relay `domains` to host:port (see `relay`). */
function relaySettings(relay: PostfixReceiverOptions['relay']): Record<string, string> {
  if (!relay) return {};
  return { relay_domains: relay.domains.join(', '), relay_transport: `smtp:[${relay.host}]:${relay.port}`, smtp_helo_name: 'relay.postfix.test' };
}

function masterCf(host: string, port: number, smtpClient: boolean): string {
  // Only the services a receiving MTA needs. chroot is "n" everywhere: a chroot would need copies
  // of /etc files inside the queue directory. No pickup (no local submission); the smtp client only for `relay`.
  return `# service type  private unpriv  chroot  wakeup  maxproc command
${host}:${port} inet n - n - - smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
${smtpClient ? 'smtp      unix  -       -       n       -       -       smtp\n' : ''}`;
}

/**
 * Postfix re-reads a table or main.cf every 300 ms for as long as its mtime is not in the past
 * (a "hot" file may still be being edited): freshly written files cost up to 2 s of start-up.
 */
async function writeConfigFile(file: string, content: string): Promise<void> {
  await fs.writeFile(file, content);
  const past = new Date(Date.now() - 60_000);
  await fs.utimes(file, past, past);
}

/** Maildir files store LF line endings; turn them back into the CRLF that was on the wire. */
function toCrlf(raw: Buffer): Buffer {
  return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

export async function startPostfixReceiver(options: PostfixReceiverOptions): Promise<PostfixReceiver> {
  const host = options.host ?? '127.0.0.2';
  if (!/^127\.\d+\.\d+\.\d+$/.test(host)) throw new Error(`postfix helper: ${host} is not a loopback IPv4 address`);
  if (options.domains.length === 0) throw new Error('postfix helper: no domains');
  const domains = options.domains.map((d) => d.toLowerCase());
  // Address -> Maildir path relative to virtual_mailbox_base (a trailing "/" means Maildir).
  const maildirs = new Map<string, string>();
  options.mailboxes.forEach((address, i) => {
    const lower = address.toLowerCase();
    const domain = lower.slice(lower.lastIndexOf('@') + 1);
    if (!lower.includes('@') || !domains.includes(domain)) throw new Error(`postfix helper: mailbox ${address} is not in ${domains.join(', ')}`);
    maildirs.set(lower, `box${i}/`);
  });

  const uid = idOf('-u', 'postfix');
  const gid = idOf('-g', 'postfix');
  const postdrop = groupId('postdrop');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mailyard-postfix-'));
  const etc = path.join(dir, 'etc');
  const queue = path.join(dir, 'queue');
  const mail = path.join(dir, 'mail');
  const logFile = path.join(dir, 'maillog');
  // The postfix user must reach the queue, data and mail directories below this one.
  await fs.chmod(dir, 0o755);
  // config and queue_directory: owned by root; data_directory and the Maildir base: by postfix.
  await fs.mkdir(etc, { mode: 0o755 });
  for (const d of ['data', 'mail']) {
    await fs.mkdir(path.join(dir, d), { mode: 0o700 });
    await fs.chown(path.join(dir, d), uid, gid);
  }
  await writeConfigFile(path.join(etc, 'vmailbox'), [...maildirs].map(([address, box]) => `${address} ${box}\n`).join(''));

  const policyServer = options.policy ? await startPolicyServer(options.policy) : null;
  const postfix = (command: string) => runCommand(POSTFIX, ['-c', etc, command], { timeoutMs: 60_000 });
  const readLog = () => fs.readFile(logFile, 'utf8').catch(() => '');

  let masterPid = 0;
  const killOnExit = () => {
    for (const pid of masterPid ? liveGroupMembers(masterPid) : []) process.kill(pid, 'SIGKILL');
  };

  const stopPostfix = async () => {
    if (!masterPid) return;
    const pgid = masterPid;
    // `abort` sends SIGTERM to the master, which terminates its children (its process group)
    // and exits. (`stop` does the same and then polls with `sleep 1`.)
    if (liveGroupMembers(pgid).length > 0) await postfix('abort');
    const gone = async () => liveGroupMembers(pgid).length === 0;
    try {
      await eventually(gone, { timeoutMs: 10_000, intervalMs: 25 });
    } catch {
      for (const pid of liveGroupMembers(pgid)) process.kill(pid, 'SIGKILL');
      await eventually(gone, { timeoutMs: 5_000, intervalMs: 25 });
    }
    masterPid = 0;
    process.off('exit', killOnExit);
  };

  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await stopPostfix();
    await policyServer?.close();
    await fs.rm(dir, { recursive: true, force: true });
  };

  let port = 0;
  try {
    const cert = await runCommand('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', `/CN=${host}`, '-keyout', path.join(etc, 'key.pem'), '-out', path.join(etc, 'cert.pem'),
    ]);
    if (cert.code !== 0) throw new Error(`postfix helper: openssl failed: ${cert.stderr}`);
    await fs.chmod(path.join(etc, 'key.pem'), 0o600); // smtpd reads it as root, before dropping privileges

    for (let attempt = 1; ; attempt++) {
      port = await freePort(host);
      await fs.rm(queue, { recursive: true, force: true });
      await fs.mkdir(queue, { mode: 0o755 });
      await createQueueDirectories(queue, uid, postdrop);
      await writeConfigFile(path.join(etc, 'main.cf'), mainCf({ dir, host, domains, uid, gid, policyPort: policyServer?.port ?? null, settings: { ...relaySettings(options.relay), ...options.settings } }));
      await writeConfigFile(path.join(etc, 'master.cf'), masterCf(host, port, Boolean(options.relay)));
      // Returns once the master has initialised (`master -w`): its listening socket is bound.
      const started = await postfix('start');
      if (started.code !== 0) {
        // Postfix writes fatal start-up errors (e.g. a bad main.cf) only to a terminal, not to
        // stderr or maillog_file: run the checks again under script(1) to see them.
        const why = await runCommand('script', ['-qec', `${POSTFIX} -c ${etc} check`, '/dev/null']);
        throw new Error(`postfix helper: postfix start failed: ${started.stderr}${why.stdout}\n${(await readLog()).slice(-4000)}`);
      }
      masterPid = Number((await fs.readFile(path.join(queue, 'pid', 'master.pid'), 'utf8')).trim());
      process.once('exit', killOnExit);
      // Two Postfix masters can listen on the same host:port at once (the kernel then spreads the
      // connections between them), so a lost race for the port does not fail: check for it.
      if (listenersOn(host, port) === 1) break;
      await stopPostfix();
      if (attempt >= 3) throw new Error(`postfix helper: ${host}:${port} is shared with another listener`);
    }
    await waitForSmtpGreeting(port, 30_000, host);
  } catch (err) {
    await cleanup();
    throw err;
  }

  const maildirOf = (address: string) => {
    const box = maildirs.get(address.toLowerCase());
    if (!box) throw new Error(`postfix helper: ${address} is not one of this receiver's mailboxes`);
    return path.join(mail, box);
  };

  const messagesFor = async (address: string): Promise<Buffer[]> => {
    const base = maildirOf(address);
    const files: Array<{ file: string; name: string; mtime: bigint }> = [];
    // Delivered files appear in new/ (renamed from tmp/ when complete); nothing moves them to cur/.
    for (const sub of ['new', 'cur']) {
      const names = await fs.readdir(path.join(base, sub)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return [];
        throw err;
      });
      for (const name of names) {
        const file = path.join(base, sub, name);
        files.push({ file, name, mtime: (await fs.stat(file, { bigint: true })).mtimeNs });
      }
    }
    files.sort((a, b) => (a.mtime === b.mtime ? a.name.localeCompare(b.name) : a.mtime < b.mtime ? -1 : 1));
    return Promise.all(files.map(async ({ file }) => toCrlf(await fs.readFile(file))));
  };

  return {
    host,
    port,
    dir,
    messagesFor,
    async waitForMessages(address, n, timeoutMs = 20_000) {
      return eventually(
        async () => {
          const messages = await messagesFor(address);
          return messages.length >= n ? messages : null;
        },
        {
          timeoutMs,
          intervalMs: 50,
          describe: async () => `${(await messagesFor(address)).length} of ${n} messages for ${address}; postfix log:\n${(await readLog()).slice(-3000)}`,
        },
      );
    },
    get policyRequests() {
      return policyServer?.requests() ?? 0;
    },
    log: readLog,
    stop: cleanup,
  };
}
