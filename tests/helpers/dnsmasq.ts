import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * A real DNS server on loopback for tests: Debian's dnsmasq as a child process, serving only the
 * records given (authoritative for `localDomains`: other names there are NXDOMAIN).
 */

export interface DnsmasqRecords {
  mx?: Array<{ name: string; host: string; priority?: number }>;
  txt?: Array<{ name: string; value: string }>;
  /** A records for exact names (not subdomains); repeat a name to publish several addresses. */
  a?: Array<{ name: string; address: string }>;
  /** AAAA records, as `a`. */
  aaaa?: Array<{ name: string; address: string }>;
  /** PTR records: `name` is the reverse name (`4.3.2.1.in-addr.arpa`), `target` the host name it points to. */
  ptr?: Array<{ name: string; target: string }>;
  /** Domains publishing a null MX (RFC 7505: one MX, preference 0, exchange "."). */
  nullMx?: string[];
  /** Domains answered locally only (unknown names: NXDOMAIN instead of REFUSED). */
  localDomains?: string[];
}

export interface TestDnsServer {
  /** `127.0.0.1:<port>`, for Resolver.setServers / DNS_SERVERS. */
  server: string;
  pid: number;
  stop(): Promise<void>;
}

export const DNSMASQ = '/usr/sbin/dnsmasq';
export const hasDnsmasq = existsSync(DNSMASQ);

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** TXT strings are at most 255 bytes; longer values are published as several strings. */
function txtArg(name: string, value: string): string {
  if (value.includes(',')) throw new Error('dnsmasq helper: a TXT value may not contain ","');
  const chunks = value.match(/[\s\S]{1,255}/g) ?? [''];
  return `--txt-record=${[name, ...chunks].join(',')}`;
}

/** An address record as `--host-record` (answers A/AAAA for that exact name only). */
function hostRecordArg(name: string, address: string, family: 4 | 6): string {
  if (name.includes(',') || name.includes('/')) throw new Error(`dnsmasq helper: bad name ${JSON.stringify(name)}`);
  if (family === 4 ? !isIPv4(address) : !isIPv6(address)) throw new Error(`dnsmasq helper: not an IPv${family} address: ${address}`);
  return `--host-record=${name},${address}`;
}

/** The name of each instance's own probe record. */
const PROBE_NAME = 'dnsmasq-probe.mailyard.test';

export async function startDnsmasq(records: DnsmasqRecords): Promise<TestDnsServer> {
  // npm test installs dnsmasq-base (scripts/ensure-system-deps.sh); a test that needs it fails without it, never skips.
  if (!hasDnsmasq) throw new Error(`dnsmasq is not installed at ${DNSMASQ}: run npm test (it installs dnsmasq-base) or apt-get install dnsmasq-base`);
  for (let attempt = 0; ; attempt++) {
    const port = await freeUdpPort();
    // A record only this instance serves: its readiness is an answer from IT. Another test's dnsmasq can take
    // the same free port first (this one then fails to bind and exits), and would answer the probe just as well —
    // with its own keys for the same names (a DKIM check failed one CI run that way).
    const token = randomBytes(8).toString('hex');
    const args = [
      txtArg(PROBE_NAME, token),
      '--no-daemon',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--conf-file=/dev/null',
      '--pid-file=',
      ...(records.localDomains ?? []).map((d) => `--local=/${d}/`),
      ...(records.mx ?? []).map((m) => `--mx-host=${m.name},${m.host},${m.priority ?? 10}`),
      ...(records.txt ?? []).map((t) => txtArg(t.name, t.value)),
      ...(records.a ?? []).map((r) => hostRecordArg(r.name, r.address, 4)),
      ...(records.aaaa ?? []).map((r) => hostRecordArg(r.name, r.address, 6)),
      ...(records.ptr ?? []).map((r) => `--ptr-record=${r.name},${r.target}`),
      // dnsmasq writes "." as the root name: the answer is a real null MX (RDATA 00 00 00).
      ...(records.nullMx ?? []).map((d) => `--mx-host=${d},.,0`),
    ];
    const child: ChildProcess = spawn(DNSMASQ, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    };
    // Ready when it answers its own probe record.
    const probe = new Resolver({ timeout: 200, tries: 1 });
    probe.setServers([`127.0.0.1:${port}`]);
    const deadline = Date.now() + 5000;
    let ready = false;
    while (!ready && Date.now() < deadline && child.exitCode === null) {
      try {
        ready = (await probe.resolveTxt(PROBE_NAME)).some((r) => r.join('') === token);
        if (!ready) break; // another server on this port: try another port
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'ECONNREFUSED' && code !== 'ETIMEOUT') break; // an answer, but not ours
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (ready) return { server: `127.0.0.1:${port}`, pid: child.pid!, stop };
    await stop();
    if (attempt >= 2) throw new Error(`dnsmasq did not start: ${stderr}`);
  }
}
