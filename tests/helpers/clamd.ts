import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A private clamd (Debian's clamav-daemon) for tests: its own config, signature folder, socket and
 * log under a fresh temp folder, in the foreground as a child process (stopped by its PID). The
 * official signatures cannot be downloaded here, and clamd does not start without a database, so
 * the folder holds one small signature file of our own: the EICAR test string as a body-based
 * (.ndb) signature, which clamd also finds inside a MIME attachment.
 */

export const CLAMD = '/usr/sbin/clamd';
export const hasClamd = existsSync(CLAMD);

/** The EICAR anti-virus test file (68 bytes): harmless, recognised by every scanner. */
export const EICAR = String.raw`X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`;
/** The signature's name; clamd reports it with `.UNOFFICIAL` appended (the database is not signed). */
export const EICAR_SIGNATURE = 'Mailyard-Test-Eicar';

export interface TestClamd {
  /** The unix socket (CLAMD_SOCKET). */
  socket: string;
  /** `127.0.0.1:<port>` (CLAMD_HOST). */
  host: string;
  pid: number;
  stop(): Promise<void>;
}

async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether clamd answers PING on its socket. */
function pings(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.createConnection({ path: socket }, () => conn.write('zPING\0'));
    let answer = '';
    conn.setTimeout(1_000, () => conn.destroy());
    conn.on('data', (b: Buffer) => (answer += b.toString()));
    conn.on('close', () => resolve(answer.startsWith('PONG')));
    conn.on('error', () => resolve(false));
  });
}

export async function startClamd(): Promise<TestClamd> {
  // npm test installs clamav-daemon (scripts/test.mjs); a test that needs it fails without it, never skips.
  if (!hasClamd) throw new Error(`clamd is not installed at ${CLAMD}: run npm test (it installs clamav-daemon) or apt-get install clamav-daemon`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mailyard-clamd-'));
  const db = path.join(dir, 'db');
  await fs.mkdir(db);
  await fs.writeFile(path.join(db, 'mailyard-test.ndb'), `${EICAR_SIGNATURE}:0:*:${Buffer.from(EICAR).toString('hex')}\n`);
  const socket = path.join(dir, 'clamd.sock');
  const port = await freeTcpPort();
  const config = path.join(dir, 'clamd.conf');
  await fs.writeFile(
    config,
    [
      'Foreground yes',
      `LocalSocket ${socket}`,
      `TCPSocket ${port}`,
      'TCPAddr 127.0.0.1',
      `DatabaseDirectory ${db}`,
      `TemporaryDirectory ${dir}`,
      `LogFile ${path.join(dir, 'clamd.log')}`,
      'ScanMail yes',
      'StreamMaxLength 25M',
      'MaxThreads 2',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(CLAMD, ['--config-file', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGTERM');
      await exited;
    }
    await fs.rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await pings(socket)) return { socket, host: `127.0.0.1:${port}`, pid: child.pid!, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  const log = await fs.readFile(path.join(dir, 'clamd.log'), 'utf8').catch(() => '');
  await stop();
  throw new Error(`clamd did not start: ${stderr}${log}`);
}
