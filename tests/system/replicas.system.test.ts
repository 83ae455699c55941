import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { sql } from 'kysely';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { freePort } from '../../core/src/local/process-utils.js';
import {
  alive,
  commandOf,
  containerPath,
  dockerfileRuntime,
  environmentOf,
  exitWithin,
  killSpawned,
  renderCompose,
  serviceEnv,
  smtpGreets,
  startCommand,
  waitFor,
  type AppService,
  type ComposeConfig,
  type DockerfileRuntime,
  type EnvMap,
  type Started,
} from '../helpers/compose-env.js';
import { startDnsmasq, type TestDnsServer } from '../helpers/dnsmasq.js';
import { useEmptyDatabase } from '../helpers/migration-db.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { eventually } from '../helpers/services.js';
import { eventData, openSse, type SseStream } from '../helpers/sse.js';
import { TEST_SECRET_KEY, testSecrets } from '../helpers/secrets.js';

/**
 * Scale-out, proved with processes: compose.yaml's rendered environment (as compose.system.test.ts
 * builds it, tests/helpers/compose-env.ts), `migrate` run once, then TWO smtp-servers, TWO
 * inbound-workers, TWO outbound-workers, TWO backends and one imap-server on one PostgreSQL and one
 * Redis; replicas of a service differ only in their ports. Under load (400 messages in over both
 * MX replicas, 50 out through both backends) nothing is lost or doubled, and one replica of each
 * worker is SIGKILLed on the way: an inbound worker while it files (its running jobs are taken
 * over by the other), an outbound worker while a batch is held for sending (not in the middle of
 * an SMTP transaction: its lease would hold those recipients for OUTBOUND_LEASE, 15 minutes; the
 * single-worker kill after the remote's 250 is outbound.system.test.ts's). A browser's SSE stream
 * on backend B sees what either inbound worker filed and a flag set through backend A; a session
 * made on A works on B; IMAP sees the same mailbox and IDLE wakes up. The remote domain's MX is
 * Postfix's smtp-sink behind dnsmasq.
 *
 * Two settings beyond the ports: INBOUND_LOCK_MS=3000, so that the jobs a killed inbound worker held
 * are taken over in seconds rather than the default 30 s; and OUTBOUND_SMTP_PORT, the sink's port
 * (remote MX hosts are contacted on 25 otherwise).
 */

const DOMAIN = 'replica.test';
const MAIL_HOSTNAME = 'mx.replica.test';
const USERS = ['alice', 'bob', 'carol'] as const;
type User = (typeof USERS)[number];
const passwordOf = (user: User) => `${user} replica password`;
/** Messages sent into the MX replicas, in two halves (one inbound worker is killed between them). */
const INBOUND_HALF = 200;
/** Messages sent out through the backends: a first batch, then a second with one outbound worker killed. */
const OUTBOUND_FIRST = 30;
const OUTBOUND_SECOND = 20;
const SINK_HOST = '127.0.0.2';
const SMTP_SINK = '/usr/sbin/smtp-sink';

interface Replica {
  service: AppService;
  index: number;
  env: EnvMap;
  started: Started;
  /** Counted from its JSON log: spool ids it filed (inbound), recipients it delivered (outbound). */
  seen: { filedSpoolIds: number[]; delivered: number };
}

const emptyDatabase = useEmptyDatabase();
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let dataDir: string;
let sinkDir: string;
let sink: ChildProcess;
let sinkPort: number;
let dns: TestDnsServer;
let rendered: ComposeConfig;
let runtime: DockerfileRuntime;
const replicas: Replica[] = [];
const userIds = {} as Record<User, number>;
const streams: SseStream[] = [];
const imapClients: ImapFlow[] = [];
let cookie: string;
let csrf: string;
let aliceStream: SseStream;

const of = (service: AppService) => replicas.filter((r) => r.service === service);
const portOf = (service: AppService, index: number, key: string) => Number(of(service)[index]!.env[key]);
const apiBase = (index: number) => `http://127.0.0.1:${portOf('backend', index, 'HTTP_PORT')}`;
const outputs = () => replicas.map((r) => `--- ${r.service}#${r.index}\n${r.started.output().slice(-3_000)}`).join('\n');

function startReplica(service: AppService, index: number, env: EnvMap): Replica {
  const seen: Replica['seen'] = { filedSpoolIds: [], delivered: 0 };
  const started = startCommand(commandOf(rendered.services[service]!), env, (line) => {
    if (!line.startsWith('{')) return;
    const entry = JSON.parse(line) as { event?: string; spoolId?: number; status?: string; delivered?: number };
    if (entry.event === 'inbound.filed' && entry.status === 'filed') seen.filedSpoolIds.push(entry.spoolId!);
    if (entry.event === 'outbound.attempt') seen.delivered += entry.delivered ?? 0;
  });
  const replica: Replica = { service, index, env, started, seen };
  replicas.push(replica);
  return replica;
}

async function readyz(port: string | undefined): Promise<boolean> {
  return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) })).status === 200;
}

async function api(index: number, method: string, url: string, body?: unknown): Promise<Response> {
  return fetch(`${apiBase(index)}${url}`, {
    method,
    headers: { cookie, 'x-csrf-token': csrf, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
}

/** Messages stored per user (any folder), by Message-ID: how many copies of each. */
async function storedCopies(): Promise<Map<string, number>> {
  const rows = await emptyDatabase.db
    .selectFrom('messages')
    .select(['user_id', 'message_id_header', (eb) => eb.fn.countAll<string>().as('n')])
    .where('message_id_header', 'like', '<load-%')
    .groupBy(['user_id', 'message_id_header'])
    .execute();
  return new Map(rows.map((r) => [`${r.user_id} ${r.message_id_header}`, Number(r.n)]));
}

/** The users' message ids that `replica` filed (from the spool ids in its log). */
async function messagesFiledBy(replica: Replica, user: User): Promise<number[]> {
  if (replica.seen.filedSpoolIds.length === 0) return [];
  const rows = await emptyDatabase.db.selectFrom('spool_filings').select('message_id').where('spool_id', 'in', replica.seen.filedSpoolIds).where('user_id', '=', userIds[user]).execute();
  return rows.map((r) => r.message_id);
}

/** Sends `count` messages starting at `from`, alternately to the two MX replicas, 4 connections each. */
async function sendInbound(from: number, count: number, expected: Map<string, number>): Promise<void> {
  const transports = of('smtp-server').map((r) => nodemailer.createTransport({ host: '127.0.0.1', port: Number(r.env.SMTP_PORT), secure: false, tls: { rejectUnauthorized: false }, pool: true, maxConnections: 4 }));
  try {
    const results = await Promise.all(
      Array.from({ length: count }, (_, k) => {
        const i = from + k;
        const rcpts: User[] = i % 8 === 0 ? ['alice', 'bob'] : [USERS[i % USERS.length]!];
        const messageId = `<load-${i}-${randomBytes(4).toString('hex')}@remote.test>`;
        for (const user of rcpts) expected.set(`${userIds[user]} ${messageId}`, 1);
        const raw = [`From: Load <load@remote.test>`, `To: ${rcpts.map((u) => `${u}@${DOMAIN}`).join(', ')}`, `Subject: load ${i}`, `Message-ID: ${messageId}`, 'Date: Mon, 07 Dec 2026 09:00:00 +0000', '', `load message ${i}`, ''].join('\r\n');
        return transports[i % transports.length]!.sendMail({ envelope: { from: 'load@remote.test', to: rcpts.map((u) => `${u}@${DOMAIN}`) }, raw });
      }),
    );
    expect(results.filter((r) => !r.response.startsWith('250')).map((r) => r.response)).toEqual([]);
  } finally {
    for (const t of transports) t.close();
  }
}

/** Message-IDs of the messages smtp-sink received, one entry per delivery. */
function sinkMessageIds(): string[] {
  return fs
    .readdirSync(sinkDir)
    .map((f) => /^Message-ID:\s*(\S+)/im.exec(fs.readFileSync(path.join(sinkDir, f), 'latin1'))?.[1] ?? `(none in ${f})`);
}

/** Sends `count` messages through the API, alternately via backend A and B, 5 at a time; returns the held sends' ids. */
async function sendOutbound(count: number, tag: string, sendAt?: Date): Promise<number[]> {
  const ids: number[] = [];
  for (let start = 0; start < count; start += 5) {
    const responses = await Promise.all(
      Array.from({ length: Math.min(5, count - start) }, (_, k) => {
        const i = start + k;
        return api(i % 2, 'POST', '/api/messages/send', { to: [`reader${i % 3}@far.test`], subject: `${tag} ${i}`, text: `${tag} body ${i}`, ...(sendAt ? { sendAt: sendAt.toISOString() } : {}) });
      }),
    );
    for (const res of responses) {
      expect(res.status, await res.clone().text()).toBe(202);
      ids.push(((await res.json()) as { scheduledId: number }).scheduledId);
    }
  }
  return ids;
}

async function killReplica(replica: Replica): Promise<void> {
  process.kill(replica.started.child.pid!, 'SIGKILL');
  expect(await exitWithin(replica.started, 10_000)).toEqual({ code: null, signal: 'SIGKILL' });
}

beforeAll(async () => {
  redis = await allocateRedisUrl();
  dataDir = fs.mkdtempSync(path.join(inject('testDataDir'), 'replicas-data-'));
  // smtp-sink runs as nobody (it refuses to run as root) and writes one file per message here.
  sinkDir = fs.mkdtempSync(path.join(inject('testDataDir'), 'replicas-sink-'));
  fs.chmodSync(sinkDir, 0o777);
  dns = await startDnsmasq({
    mx: [{ name: 'far.test', host: 'mx.far.test', priority: 10 }],
    a: [{ name: 'mx.far.test', address: SINK_HOST }],
    localDomains: ['far.test', DOMAIN],
  });
  // The remote domain's MX: Postfix's smtp-sink, one file per message received.
  sinkPort = await freePort(SINK_HOST);
  sink = spawn(SMTP_SINK, ['-u', 'nobody', '-d', `${sinkDir}/%H%M%S.`, `${SINK_HOST}:${sinkPort}`, '64'], { stdio: 'ignore' });
  await eventually(() => smtpGreets(sinkPort, SINK_HOST), { timeoutMs: 10_000 });
  ({ config: rendered } = await renderCompose({ POSTGRES_PASSWORD: 'replicas-test-password', MAIL_HOSTNAME, SECRET_KEY: TEST_SECRET_KEY, DNS_SERVERS: dns.server, OUTBOUND_ALLOW_PRIVATE: 'true' }));
  runtime = dockerfileRuntime();
});

afterAll(async () => {
  for (const s of streams) s.close();
  await Promise.all(imapClients.map((c) => c.logout().catch(() => undefined)));
  killSpawned();
  if (sink?.pid !== undefined && sink.exitCode === null && sink.signalCode === null) process.kill(sink.pid, 'SIGKILL');
  await dns?.stop();
  await redis?.flush();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  if (sinkDir) fs.rmSync(sinkDir, { recursive: true, force: true });
});

describe('two of every service from compose, on one PostgreSQL and Redis', () => {
  it('migrates once, then starts two smtp-servers, inbound-workers, outbound-workers and backends and an imap-server, each replica on its own ports', async () => {
    const migrateEnv: EnvMap = { PATH: containerPath, ...runtime.env, ...environmentOf(rendered.services.migrate!), DATABASE_URL: emptyDatabase.url, DATA_DIR: dataDir };
    const migrate = startCommand(commandOf(rendered.services.migrate!), migrateEnv);
    expect(await exitWithin(migrate, 60_000), migrate.output()).toEqual({ code: 0, signal: null });

    // Redis pub/sub ignores the database index: a random user id keeps `user:<id>` (SSE, IDLE) this file's own.
    await sql`ALTER SEQUENCE users_id_seq RESTART WITH ${sql.lit(randomInt(1_000_000, 2 ** 40))}`.execute(emptyDatabase.db);
    const accounts = createAccountsService({ db: emptyDatabase.db, secrets: testSecrets });
    await accounts.addDomain(DOMAIN);
    for (const user of USERS) userIds[user] = (await accounts.addUser({ address: `${user}@${DOMAIN}`, password: passwordOf(user) })).id;

    const stores = { databaseUrl: emptyDatabase.url, redisUrl: redis.url, dataDir };
    const usedPorts = new Set<number>();
    const plan: Array<[AppService, number]> = [
      ['smtp-server', 2],
      ['inbound-worker', 2],
      ['outbound-worker', 2],
      ['backend', 2],
      ['imap-server', 1],
    ];
    const envs: Array<{ service: AppService; index: number; env: EnvMap }> = [];
    for (const [service, count] of plan) {
      for (let index = 0; index < count; index++) {
        const env = await serviceEnv(rendered, runtime, service, stores, usedPorts);
        if (service === 'inbound-worker') env.INBOUND_LOCK_MS = '3000';
        if (service === 'outbound-worker') env.OUTBOUND_SMTP_PORT = String(sinkPort);
        envs.push({ service, index, env });
      }
    }
    // Replicas of one service share everything but their ports.
    for (const [service, count] of plan) {
      if (count < 2) continue;
      const [a, b] = envs.filter((e) => e.service === service).map((e) => e.env);
      const differing = Object.keys(a!).filter((k) => a![k] !== b![k]);
      expect(differing.length).toBeGreaterThan(0);
      expect(differing.every((k) => k.endsWith('_PORT')), `${service}: ${differing.join(', ')}`).toBe(true);
    }

    // Nine processes starting on a busy 2-core machine: generous deadlines, not timings.
    const ready = (r: Replica): Promise<void> => {
      const options = { timeoutMs: 120_000, child: r.started.child, output: r.started.output };
      const what = `${r.service}#${r.index}`;
      switch (r.service) {
        case 'smtp-server':
          return waitFor(what, () => smtpGreets(Number(r.env.SMTP_PORT)), options);
        case 'backend':
          return waitFor(what, () => readyz(r.env.HTTP_PORT), options);
        case 'imap-server':
          return waitFor(what, async () => r.started.output().includes('"event":"imap.listening"'), options);
        case 'inbound-worker':
        case 'outbound-worker': {
          const started = `"event":"${r.service.split('-')[0]}.started"`;
          return waitFor(what, async () => r.started.output().includes(started) && (await readyz(r.env.WORKER_HEALTH_PORT)), options);
        }
      }
    };
    // One smtp-server first: it writes the self-signed certificate into the shared DATA_DIR, which
    // the others then read instead of each generating a key pair of its own at the same time.
    const [first, ...rest] = envs;
    await ready(startReplica(first!.service, first!.index, first!.env));
    await Promise.all(rest.map((e) => ready(startReplica(e.service, e.index, e.env))));
  }, 180_000);

  it('a session made on backend A works on backend B (sessions live in the shared store)', async () => {
    const res = await fetch(`${apiBase(0)}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: `alice@${DOMAIN}`, password: passwordOf('alice') }) });
    expect(res.status).toBe(200);
    cookie = res.headers.getSetCookie().find((c) => c.startsWith('mailyard_session='))!.split(';')[0]!;
    csrf = ((await res.json()) as { csrfToken: string }).csrfToken;

    const me = await api(1, 'GET', '/api/me');
    expect(me.status).toBe(200);
    expect(((await me.json()) as { id: number }).id).toBe(userIds.alice);
    // A write on B with A's session and CSRF token: held sends wait 3 s (a window to kill an outbound worker in).
    const settings = await api(1, 'PATCH', '/api/account/settings', { undoSendSeconds: 3 });
    expect(settings.status, await settings.clone().text()).toBe(200);
    expect(((await (await api(0, 'GET', '/api/account/settings')).json()) as { undoSendSeconds: number }).undoSendSeconds).toBe(3);
  });

  it('files 400 messages sent over both MX replicas exactly once, with both inbound workers, across a SIGKILL of one; SSE on backend B sees every one', async () => {
    aliceStream = await openSse(`${apiBase(1)}/api/events`, { cookie });
    streams.push(aliceStream);
    expect(aliceStream.status).toBe(200);
    await aliceStream.waitFor((f) => f.retry !== undefined, 20_000, 'the stream to be live');

    const expected = new Map<string, number>();
    const firstHalf = sendInbound(0, INBOUND_HALF, expected);
    // While the first half arrives, whichever worker has filed mail for alice first is killed; the
    // second half, sent after that, can only be filed by the other.
    const workers = of('inbound-worker');
    const victim = await eventually(
      async () => {
        for (const w of workers) if ((await messagesFiledBy(w, 'alice')).length >= 5) return w;
        return null;
      },
      { timeoutMs: 60_000, intervalMs: 200, describe: outputs },
    );
    const survivor = workers.find((w) => w !== victim)!;
    await killReplica(victim);
    const filedBeforeKill = survivor.seen.filedSpoolIds.length;
    await firstHalf;
    await sendInbound(INBOUND_HALF, INBOUND_HALF, expected);

    const countOf = async () => [...(await storedCopies()).values()].reduce((a, b) => a + b, 0);
    const pending = async () => Number((await emptyDatabase.db.selectFrom('spool').select((eb) => eb.fn.countAll<string>().as('n')).where('status', '!=', 'done').executeTakeFirstOrThrow()).n);
    await eventually(async () => (await countOf()) >= expected.size && (await pending()) === 0, {
      timeoutMs: 120_000,
      intervalMs: 500,
      describe: async () => `stored ${await countOf()}/${expected.size}, spool not done ${await pending()}\n${outputs()}`,
    });
    // Exactly once per recipient: no copy missing, none doubled, nothing unexpected.
    expect(Object.fromEntries(await storedCopies())).toEqual(Object.fromEntries(expected));
    expect(await pending()).toBe(0);

    // Both workers did work: the victim before it died, the survivor after (the whole second half).
    expect(victim.seen.filedSpoolIds.length).toBeGreaterThan(0);
    expect(survivor.seen.filedSpoolIds.length).toBeGreaterThan(filedBeforeKill);
    // Both MX replicas took mail (each answered 250 to its half of every batch) into the one spool.
    expect(Number((await emptyDatabase.db.selectFrom('spool').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n)).toBe(2 * INBOUND_HALF);

    // The SSE stream on backend B got message.new for every message filed for alice, by either worker.
    const aliceIds = (await emptyDatabase.db.selectFrom('messages').select('id').where('user_id', '=', userIds.alice).execute()).map((r) => r.id);
    const seen = () => new Set(aliceStream.events().filter((f) => f.event === 'message.new').map((f) => eventData<{ messageId: number }>(f).messageId));
    await eventually(async () => aliceIds.every((id) => seen().has(id)), { timeoutMs: 30_000, describe: () => `missing message.new for alice's messages ${aliceIds.filter((id) => !seen().has(id)).join(', ')}` });
    for (const w of workers) {
      const filed = await messagesFiledBy(w, 'alice');
      expect(filed.length, `${w.service}#${w.index} filed for alice`).toBeGreaterThan(0);
      expect(filed.filter((id) => !seen().has(id))).toEqual([]);
    }
  }, 240_000);

  it('a flag set through backend A reaches the SSE stream on backend B', async () => {
    const row = await emptyDatabase.db.selectFrom('messages').select('id').where('user_id', '=', userIds.alice).orderBy('id', 'desc').executeTakeFirstOrThrow();
    const res = await api(0, 'POST', '/api/messages/flags', { ids: [row.id], starred: true });
    expect(res.status, await res.clone().text()).toBe(200);
    const frame = await aliceStream.waitFor((f) => f.event === 'message.flags' && eventData<{ messageId: number }>(f).messageId === row.id, 20_000, 'message.flags');
    expect(eventData<{ flags: string[] }>(frame).flags).toContain('\\Flagged');
  });

  it('IMAP shows the same INBOX, and an IDLE client is told of a new message', async () => {
    const client = new ImapFlow({ host: '127.0.0.1', port: portOf('imap-server', 0, 'IMAP_PORT'), secure: false, tls: { rejectUnauthorized: false }, auth: { user: `alice@${DOMAIN}`, pass: passwordOf('alice') }, logger: false });
    await client.connect();
    imapClients.push(client);
    const inboxCount = async () =>
      Number(
        (
          await emptyDatabase.db
            .selectFrom('messages')
            .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('messages.user_id', '=', userIds.alice)
            .where('mailboxes.special_use', '=', '\\Inbox')
            .executeTakeFirstOrThrow()
        ).n,
      );
    const stored = await inboxCount();
    expect(stored).toBeGreaterThan(INBOUND_HALF / 2);
    const mailbox = await client.mailboxOpen('INBOX');
    expect(mailbox.exists).toBe(stored);

    const exists: number[] = [];
    client.on('exists', (data: { count: number }) => exists.push(data.count));
    // imapflow IDLEs by itself while nothing else runs.
    void client.idle();
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: portOf('smtp-server', 1, 'SMTP_PORT'), secure: false, tls: { rejectUnauthorized: false } });
    try {
      const info = await transport.sendMail({ from: 'carol@remote.test', to: `alice@${DOMAIN}`, subject: 'wake up', messageId: `<wake-${randomBytes(4).toString('hex')}@remote.test>`, text: 'new\n' });
      expect(info.response).toMatch(/^250/);
    } finally {
      transport.close();
    }
    await eventually(async () => exists.includes(stored + 1), { timeoutMs: 30_000, describe: () => `${JSON.stringify(exists)}\n${outputs()}` });
    expect(await inboxCount()).toBe(stored + 1);
  });

  it('delivers mail sent through both backends exactly once across both outbound workers, also after one is SIGKILLed', async () => {
    const outboundIds = async () => (await emptyDatabase.db.selectFrom('outbound_messages').select('message_id_header').execute()).map((r) => r.message_id_header);
    const delivered = async () => Number((await emptyDatabase.db.selectFrom('deliveries').select((eb) => eb.fn.countAll<string>().as('n')).where('status', '=', 'delivered').executeTakeFirstOrThrow()).n);
    const waitForSink = (n: number) =>
      eventually(async () => sinkMessageIds().length >= n && (await delivered()) >= n, {
        timeoutMs: 90_000,
        intervalMs: 250,
        describe: async () => `sink ${sinkMessageIds().length}/${n}, delivered ${await delivered()}\n${outputs()}`,
      });
    const workers = of('outbound-worker');

    await sendOutbound(OUTBOUND_FIRST, 'first');
    await waitForSink(OUTBOUND_FIRST);
    expect(workers.reduce((sum, w) => sum + w.seen.delivered, 0)).toBe(OUTBOUND_FIRST);

    // The second batch is scheduled a few seconds ahead; one worker dies while it is held, and the
    // other sends and delivers all of it.
    const [victim, survivor] = workers as [Replica, Replica];
    const survivorBefore = survivor.seen.delivered;
    const held = await sendOutbound(OUTBOUND_SECOND, 'second', new Date(Date.now() + 8_000));
    await killReplica(victim);
    const statuses = async () => (await emptyDatabase.db.selectFrom('scheduled_sends').select('status').where('id', 'in', held).execute()).map((r) => r.status);
    expect(new Set(await statuses()), 'the second batch was still held when the worker died').toEqual(new Set(['pending']));
    await waitForSink(OUTBOUND_FIRST + OUTBOUND_SECOND);
    expect(new Set(await statuses())).toEqual(new Set(['sent']));
    expect(survivor.seen.delivered - survivorBefore).toBe(OUTBOUND_SECOND);

    // Every message once at the remote MX: the Message-IDs there are exactly the ones sent, no repeats.
    const atSink = sinkMessageIds();
    expect(atSink).toHaveLength(OUTBOUND_FIRST + OUTBOUND_SECOND);
    expect(new Set(atSink).size).toBe(atSink.length);
    expect(new Set(atSink)).toEqual(new Set(await outboundIds()));
    expect(await delivered()).toBe(OUTBOUND_FIRST + OUTBOUND_SECOND);
  }, 180_000);

  it('the replicas still running stop on SIGTERM with exit code 0', async () => {
    const running = replicas.filter((r) => alive(r.started.child));
    expect(running).toHaveLength(replicas.length - 2);
    for (const r of running) process.kill(r.started.child.pid!, 'SIGTERM');
    const exits = await Promise.all(running.map((r) => exitWithin(r.started, 30_000)));
    expect(exits).toEqual(running.map(() => ({ code: 0, signal: null })));
  }, 60_000);
});
