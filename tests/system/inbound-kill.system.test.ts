import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { freePort } from '../../core/src/local/process-utils.js';
import { createInboundQueue, inboundJobId } from '../../core/src/queue/queues.js';
import { createRedis } from '../../core/src/queue/redis.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { eventually, spawnService, waitForSmtpGreeting, type ServiceProcess } from '../helpers/services.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { testSecrets } from '../helpers/secrets.js';

/**
 * An inbound worker SIGKILLed INSIDE a filing transaction (hardening #12, "Proof: inbound kill"),
 * with the real smtp-server and inbound-worker processes. The test holds the recipient's user row
 * (the mailbox writer locks it first), sees the worker's transaction wait on it and its BullMQ job
 * active, kills the worker there, lets go, and checks after the lock and reconcile windows that
 * the message was stored exactly once. (tests/system/inbound-flow.system.test.ts kills a worker
 * under load, wherever it happens to be.)
 */

let store: TestStore;
let redis: Awaited<ReturnType<typeof allocateRedisUrl>>;
let smtp: ServiceProcess;
const workers: ServiceProcess[] = [];
let smtpPort: number;
let env: Record<string, string>;
let dataDir: string;

function crlf(lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n');
}

beforeAll(async () => {
  store = await createTestStore();
  redis = await allocateRedisUrl();
  await createAccountsService({ db: store.db, secrets: testSecrets }).addDomain('a.test');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-inkill-'));
  smtpPort = await freePort();
  env = {
    DATABASE_URL: store.url,
    REDIS_URL: redis.url,
    DATA_DIR: dataDir,
    MAIL_HOSTNAME: 'mx.a.test',
    BIND_ADDRESS: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SMTP_PORT: String(smtpPort),
    // A crashed worker's jobs are taken over after 2 s instead of 30 s.
    INBOUND_LOCK_MS: '2000',
    SPOOL_RECONCILE_INTERVAL_MS: '1000',
    SPOOL_RECONCILE_AGE_MS: '3000',
  };
  smtp = spawnService('smtp-server', env);
  await waitForSmtpGreeting(smtpPort);
});

afterAll(async () => {
  await Promise.all([smtp?.stop(), ...workers.map((w) => w.stop())]);
  await redis?.flush();
  await store?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('an inbound worker killed inside its filing transaction (real processes)', () => {
  it('files a message exactly once when the worker is SIGKILLed inside its filing transaction, rechecked after the lock and reconcile windows', async () => {
    // A user of its own: the lock below holds up this message's filing and nothing else.
    const carlId = (await createAccountsService({ db: store.db, secrets: testSecrets }).addUser({ address: 'carl@a.test', password: 'carl password' })).id;
    const victim = spawnService('inbound-worker', env);
    workers.push(victim);
    const connection = createRedis(redis.url, { maxRetriesPerRequest: null });
    const inbound = createInboundQueue(connection);
    const messageId = `<kill-in-tx-${randomBytes(4).toString('hex')}@remote.test>`;
    const raw = crlf(['From: Frank <frank@remote.test>', 'To: carl@a.test', 'Subject: killed while filing', `Message-ID: ${messageId}`, '', 'filed once', '']);
    const copies = async () => store.db.selectFrom('messages').select(['id', 'mailbox_id']).where('user_id', '=', carlId).where('message_id_header', '=', messageId).execute();

    // Hold carl's user row, which the mailbox writer locks first in every filing transaction.
    let unlock: () => void = () => undefined;
    const unlocked = new Promise<void>((resolve) => (unlock = resolve));
    let lockTaken: () => void = () => undefined;
    const taken = new Promise<void>((resolve) => (lockTaken = resolve));
    let lockerPid = 0;
    const locker = store.db.transaction().execute(async (tx) => {
      lockerPid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(tx)).rows[0]!.pid;
      await tx.selectFrom('users').select('id').where('id', '=', carlId).forUpdate().execute();
      lockTaken();
      await unlocked;
    });
    let spoolId = 0;
    let killedAt = 0;
    try {
      await taken;
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, tls: { rejectUnauthorized: false } });
      const info = await transport.sendMail({ envelope: { from: 'frank@remote.test', to: ['carl@a.test'] }, raw });
      transport.close();
      expect(info.response).toMatch(/^250 /);
      spoolId = (await store.db.selectFrom('spool').select('id').where(sql<boolean>`rcpt_to @> ARRAY['carl@a.test']`).executeTakeFirstOrThrow()).id;

      // The worker's filing transaction is open and waits for carl's row; its job is active.
      const blocked = await eventually(
        async () => {
          const { rows } = await sql<{ pid: number; query: string; xact: boolean }>`
            SELECT pid, query, xact_start IS NOT NULL AS xact FROM pg_stat_activity WHERE ${lockerPid} = ANY(pg_blocking_pids(pid))`.execute(store.db);
          return rows.length > 0 ? rows : null;
        },
        { timeoutMs: 20_000, describe: () => victim.output() },
      );
      expect(blocked.every((b) => b.xact)).toBe(true);
      expect(blocked.map((b) => b.query).join('\n')).toMatch(/users/);
      expect((await inbound.queue.getActive()).map((j) => j.id)).toContain(inboundJobId(spoolId));

      await victim.kill();
      killedAt = Date.now();
      // PostgreSQL ends the dead client's session (rolling its transaction back) once it can.
      unlock();
      await locker;
      await eventually(
        async () => {
          const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid IN (${sql.join(blocked.map((b) => b.pid))})`.execute(store.db);
          return rows[0]!.n === 0;
        },
        { timeoutMs: 20_000 },
      );
    } finally {
      unlock();
      await locker;
    }
    expect(await copies()).toEqual([]);
    expect((await store.db.selectFrom('spool').select('status').where('id', '=', spoolId).executeTakeFirstOrThrow()).status).toBe('pending');

    const successor = spawnService('inbound-worker', env);
    workers.push(successor);
    await eventually(async () => (await copies()).length > 0, { timeoutMs: 30_000, describe: () => successor.output() });
    // Recheck once the killed job's lock (INBOUND_LOCK_MS, 2 s) and the spool reconciler's age
    // (SPOOL_RECONCILE_AGE_MS, 3 s, plus a 1 s pass) are over: a retaken job or a re-enqueue has
    // run by then, and the spool row is done.
    await eventually(
      async () => {
        if (Date.now() - killedAt < 2_000 + 3_000 + 1_000) return false;
        const job = await inbound.queue.getJob(inboundJobId(spoolId));
        const row = await store.db.selectFrom('spool').select('status').where('id', '=', spoolId).executeTakeFirstOrThrow();
        return row.status === 'done' && (!job || (await job.isCompleted()));
      },
      { timeoutMs: 30_000, describe: () => successor.output() },
    );
    expect(await copies()).toHaveLength(1);
    expect(await store.db.selectFrom('spool_filings').select('user_id').where('spool_id', '=', spoolId).execute()).toEqual([{ user_id: carlId }]);
    const inbox = await store.db.selectFrom('mailboxes').select(['id', 'message_count']).where('user_id', '=', carlId).where('special_use', '=', '\\Inbox').executeTakeFirstOrThrow();
    const stored = await store.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('mailbox_id', '=', inbox.id).executeTakeFirstOrThrow();
    expect(inbox.message_count).toBe(Number(stored.n));
    await inbound.close();
    connection.disconnect();
  });
});
