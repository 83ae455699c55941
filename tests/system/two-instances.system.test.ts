import net from 'node:net';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsService } from '../../core/src/accounts/accounts.service.js';
import { createRateLimiter } from '../../core/src/auth/rate-limit.js';
import { createRedisEventPublisher } from '../../core/src/events/publisher.js';
import { sendMessage, type SendDeps } from '../../core/src/mail/send.js';
import { createOutboundQueue, type OutboundQueue } from '../../core/src/queue/queues.js';
import { createRedis } from '../../core/src/queue/redis.js';
import { startDnsmasq, type TestDnsServer } from '../helpers/dnsmasq.js';
import { allocateRedisUrl } from '../helpers/redis.js';
import { eventually, runCommand, spawnService, waitForSmtpGreeting, type ServiceProcess } from '../helpers/services.js';
import { createTestStore, type TestStore } from '../helpers/store.js';
import { TEST_SECRET_KEY, testSecrets } from '../helpers/secrets.js';

/**
 * Two Mailyard instances, each its own database, Redis and processes (smtp-server,
 * inbound-worker, outbound-worker, as compose runs them), serve a.test (MX 127.0.0.3) and c.test
 * (MX 127.0.0.4) and exchange mail over MX through dnsmasq: a message and its reply, which must
 * thread with the original on both sides.
 */

interface Instance {
  domain: string;
  ip: string;
  store: TestStore;
  redis: Redis;
  queue: OutboundQueue;
  services: ServiceProcess[];
  submissionPort: number;
  userId: number;
  deps: SendDeps;
}

let dns: TestDnsServer;
let port: number;
const instances: Instance[] = [];

/** A port free on both loopback addresses (MX hosts are contacted on one port, like 25). */
async function portFreeOn(ips: string[]): Promise<number> {
  for (;;) {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, ips[0], resolve));
    const candidate = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const free = await Promise.all(
      ips.map(
        (ip) =>
          new Promise<boolean>((resolve) => {
            const s = net.createServer();
            s.once('error', () => resolve(false));
            s.listen(candidate, ip, () => s.close(() => resolve(true)));
          }),
      ),
    );
    if (free.every(Boolean)) return candidate;
  }
}

async function startInstance(domain: string, ip: string, user: string, submissionPort: number): Promise<Instance> {
  const store = await createTestStore();
  const redisDb = await allocateRedisUrl();
  await redisDb.flush();
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  await accounts.addDomain(domain);
  const userId = (await accounts.addUser({ address: `${user}@${domain}`, password: 'correct horse' })).id;
  const env = {
    DATABASE_URL: store.url,
    REDIS_URL: redisDb.url,
    DNS_SERVERS: dns.server,
    MAIL_HOSTNAME: `mx.${domain}`,
    BIND_ADDRESS: ip,
    SMTP_PORT: String(port),
    SUBMISSION_PORT: String(submissionPort),
    SMTPS_PORT: '0',
    OUTBOUND_SMTP_PORT: String(port),
    OUTBOUND_RETRY_SCHEDULE: '500ms',
    OUTBOUND_ALLOW_PRIVATE: 'true', // the instances' MX hosts are 127.0.0.x
    DATA_DIR: `/tmp/mailyard-two-instances-${domain}`,
    SECRET_KEY: TEST_SECRET_KEY,
    LOG_LEVEL: 'warn',
  };
  const services = ['smtp-server', 'inbound-worker', 'outbound-worker'].map((name) => spawnService(name, env));
  await waitForSmtpGreeting(port, 30_000, ip);
  const redis = createRedis(redisDb.url, { maxRetriesPerRequest: null });
  const queue = createOutboundQueue(redis);
  const deps: SendDeps = { db: store.db, events: createRedisEventPublisher(redis), dataDir: env.DATA_DIR, limiter: createRateLimiter(redis), outbound: queue };
  return { domain, ip, store, redis, queue, services, submissionPort, userId, deps };
}

async function inboxMessage(instance: Instance, subject: string) {
  return eventually(
    () =>
      instance.store.db
        .selectFrom('messages')
        .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
        .select(['messages.id', 'messages.thread_id', 'messages.message_id_header', 'messages.from_text'])
        .where('messages.user_id', '=', instance.userId)
        .where('mailboxes.special_use', '=', '\\Inbox')
        .where('messages.subject', '=', subject)
        .executeTakeFirst(),
    { timeoutMs: 30_000, describe: () => instance.services.map((s) => s.output()).join('\n') },
  );
}

async function threadOf(instance: Instance, messageId: number): Promise<number> {
  const row = await instance.store.db.selectFrom('messages').select('thread_id').where('id', '=', messageId).executeTakeFirstOrThrow();
  return row.thread_id;
}

beforeAll(async () => {
  dns = await startDnsmasq({
    mx: [
      { name: 'a.test', host: 'mx.a.test', priority: 10 },
      { name: 'c.test', host: 'mx.c.test', priority: 10 },
    ],
    a: [
      { name: 'mx.a.test', address: '127.0.0.3' },
      { name: 'mx.c.test', address: '127.0.0.4' },
    ],
    localDomains: ['a.test', 'c.test'],
  });
  port = await portFreeOn(['127.0.0.3', '127.0.0.4']);
  const submission = await portFreeOn(['127.0.0.3']);
  instances.push(await startInstance('a.test', '127.0.0.3', 'ann', submission), await startInstance('c.test', '127.0.0.4', 'cat', await portFreeOn(['127.0.0.4'])));
});

afterAll(async () => {
  for (const i of instances) {
    for (const s of i.services) await s.stop();
    await i.queue.close();
    i.redis.disconnect();
    await i.store.drop();
  }
  await dns?.stop();
});

describe('two Mailyard instances', () => {
  it('exchange mail both ways over MX, and the reply threads with the original on both sides', async () => {
    const [a, c] = instances as [Instance, Instance];
    const sent = await sendMessage(a.deps, { userId: a.userId, address: 'ann@a.test', name: 'Ann' }, { to: ['Cat <cat@c.test>'], subject: 'Across the wire', text: 'Hello Cat, from a.test' });
    expect(sent.queued).toEqual([{ domain: 'c.test', recipients: ['cat@c.test'] }]);

    const received = await inboxMessage(c, 'Across the wire');
    expect(received.from_text).toContain('ann@a.test');
    const annSent = await a.store.db.selectFrom('messages').select('message_id_header').where('id', '=', sent.messageId).executeTakeFirstOrThrow();
    expect(received.message_id_header).toBe(annSent.message_id_header);
    const delivered = await a.store.db.selectFrom('deliveries').select(['status', 'remote_mta']).where('outbound_id', '=', sent.outboundId).executeTakeFirstOrThrow();
    expect(delivered).toEqual({ status: 'delivered', remote_mta: 'mx.c.test' });

    const reply = await sendMessage(c.deps, { userId: c.userId, address: 'cat@c.test', name: 'Cat' }, { to: ['ann@a.test'], subject: 'Re: Across the wire', text: 'Hi Ann!', inReplyTo: received.id });
    const replyReceived = await inboxMessage(a, 'Re: Across the wire');
    // a.test: the reply joins Ann's sent message's thread; c.test: Cat's reply joins the received one's.
    expect(replyReceived.thread_id).toBe(await threadOf(a, sent.messageId));
    expect(await threadOf(c, reply.messageId)).toBe(received.thread_id);
  });

  it('delivers what a mail client submits on 587 (STARTTLS + AUTH) to the other instance', async () => {
    const [a, c] = instances as [Instance, Instance];
    const swaks = await runCommand('swaks', [
      '--server', `${a.ip}:${a.submissionPort}`, '--tls', '--auth', 'PLAIN', '--auth-user', 'ann@a.test', '--auth-password', 'correct horse',
      '--from', 'ann@a.test', '--to', 'cat@c.test', '--header', 'Subject: Submitted with swaks', '--body', 'sent from a mail client',
    ], { timeoutMs: 30_000 });
    expect(swaks.code, swaks.stdout + swaks.stderr).toBe(0);
    expect(swaks.stdout).toMatch(/<~ +250 2\.0\.0 Ok: queued as \d+/);
    const received = await inboxMessage(c, 'Submitted with swaks');
    expect(received.from_text).toContain('ann@a.test');
    const sentCopy = await a.store.db.selectFrom('messages').innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id').select('mailboxes.special_use').where('messages.user_id', '=', a.userId).where('messages.subject', '=', 'Submitted with swaks').execute();
    expect(sentCopy).toEqual([{ special_use: '\\Sent' }]);
  });
});
