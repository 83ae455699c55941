import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkConnection, createAccountsService, createAuthDnsResolver, parseTrustedNetworks, silentLogger, VIRUS_REFUSED_COUNTER, type FilterCheckJson, type TlsMaterial } from '@mailyard/core';
import { EICAR, EICAR_SIGNATURE, startClamd, type TestClamd } from '../../tests/helpers/clamd.js';
import { startDnsmasq, type TestDnsServer } from '../../tests/helpers/dnsmasq.js';
import { fakeRecipients, fakeSpool, fakeTrust } from '../../tests/helpers/smtp-fakes.js';
import { MX_TEST_LIMITS } from '../../tests/helpers/mx-trust-harness.js';
import { connect, type SmtpTranscript } from '../../tests/helpers/smtp-transcript.js';
import { closedPort, createSmtpTestEnv, type SmtpTestEnv } from '../../tests/helpers/smtp-test-env.js';
import { testSecrets } from '../../tests/helpers/secrets.js';
import { buildMxListener, buildSmtpApp, type MxListener, type MxScreeningOptions } from './app.js';

/**
 * The MX's virus scanning against a real, private clamd (EICAR signature of our own) on the real
 * store and Redis, and its connection checks (DNSBL, reverse DNS from dnsmasq) handed to the trust
 * service once per connection.
 */

const HOST = '127.0.0.1';
const LIMITS = MX_TEST_LIMITS;

let env: SmtpTestEnv;
let tls: TlsMaterial;
let clamd: TestClamd;
let dns: TestDnsServer;
const listeners: MxListener[] = [];
const clients: SmtpTranscript[] = [];

beforeAll(async () => {
  [env, clamd, dns] = await Promise.all([
    createSmtpTestEnv('mx.in.test'),
    startClamd(),
    // 127.0.0.1 is listed in bl.test and its reverse name mx.in.test resolves back to it.
    startDnsmasq({ localDomains: ['bl.test', 'in.test'], a: [{ name: '1.0.0.127.bl.test', address: '127.0.0.2' }, { name: 'mx.in.test', address: '127.0.0.1' }] }),
  ]);
  ({ tls } = env);
  const accounts = createAccountsService({ db: env.store.db, secrets: testSecrets });
  await accounts.addDomain('in.test');
  await accounts.addUser({ address: 'bob@in.test', password: 'bob password' });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()));
  await clamd?.stop();
  await dns?.stop();
  await env?.close();
});

async function client(port: number): Promise<SmtpTranscript> {
  const c = await connect(HOST, port);
  clients.push(c);
  expect((await c.cmd('EHLO client.example')).code).toBe(250);
  return c;
}

async function mx(screening: MxScreeningOptions): Promise<SmtpTranscript> {
  const app = buildSmtpApp(
    { db: env.store.db, enqueueInbound: async () => {}, log: silentLogger() },
    { hostname: 'mx.in.test', tls, limits: LIMITS, trust: { dnsServers: [dns.server], trustedNetworks: parseTrustedNetworks('none') }, screening },
  );
  listeners.push(app);
  return client(await app.listen(0, HOST));
}

const spooledCount = async () => Number((await env.store.db.selectFrom('spool').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

function withAttachment(subject: string, content: string): Buffer {
  return Buffer.from(
    `From: ann@far.test\r\nTo: bob@in.test\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(content).toString('base64')}\r\n--b--\r\n`,
  );
}

describe('MX virus scanning with clamd', () => {
  it('refuses EICAR with 554 5.7.1 naming the virus, stores nothing and counts it; accepts a clean message', async () => {
    const c = await mx({ clamd: { socket: clamd.socket, onError: 'tempfail', counter: env.redis } });
    const before = await spooledCount();
    const refused = await c.sendMail('ann@far.test', ['bob@in.test'], withAttachment('infected', EICAR));
    expect(refused).toMatchObject({ code: 554, enhanced: '5.7.1' });
    expect(refused.text).toContain(`message refused: virus ${EICAR_SIGNATURE}`);
    expect(await spooledCount()).toBe(before);
    expect(await env.redis.get(VIRUS_REFUSED_COUNTER)).toBe('1');
    expect((await c.sendMail('ann@far.test', ['bob@in.test'], withAttachment('clean', 'a harmless file'))).code).toBe(250);
    expect(await spooledCount()).toBe(before + 1);
  });

  it('answers 451 4.7.0 when clamd is down and CLAMD_FAIL=tempfail, and accepts unscanned with CLAMD_FAIL=accept', async () => {
    const host = `127.0.0.1:${await closedPort()}`;
    const tempfail = await mx({ clamd: { host, onError: 'tempfail' } });
    expect(await tempfail.sendMail('ann@far.test', ['bob@in.test'], withAttachment('scanner down', 'file'))).toMatchObject({ code: 451, enhanced: '4.7.0' });
    const accept = await mx({ clamd: { host, onError: 'accept' } });
    expect((await accept.sendMail('ann@far.test', ['bob@in.test'], withAttachment('scanner down', 'file'))).code).toBe(250);
  });
});

describe('MX connection checks', () => {
  async function listener(trusted: string[] = []) {
    const trust = fakeTrust();
    for (const ip of trusted) trust.trusted.add(ip);
    let runs = 0;
    const resolver = createAuthDnsResolver([dns.server]);
    const connectionChecks = {
      check: (input: { ip: string; helo: string | null }): Promise<FilterCheckJson[]> => {
        runs++;
        return checkConnection({ resolver, dnsblZones: ['bl.test'], dnsblScore: 3 }, input);
      },
    };
    const mxListener = buildMxListener({ services: { recipients: fakeRecipients({ 'bob@in.test': 1 }), spool: fakeSpool(), trust, connectionChecks }, log: silentLogger() }, { hostname: 'mx.in.test', tls, limits: LIMITS });
    listeners.push(mxListener);
    return { port: await mxListener.listen(0, HOST), trust, runs: () => runs };
  }

  it('runs DNSBL and reverse DNS once per connection and hands them to the trust checks with each message', async () => {
    const { port, trust, runs } = await listener();
    const c = await client(port);
    for (const subject of ['one', 'two']) expect((await c.sendMail('ann@far.test', ['bob@in.test'], withAttachment(subject, 'x'))).code).toBe(250);
    expect(runs()).toBe(1);
    const expected = [
      { check: 'dnsbl', result: 'listed', score: 3, detail: 'listed on bl.test (127.0.0.2)' },
      { check: 'rdns', result: 'pass', score: 0, detail: '127.0.0.1 is mx.in.test' },
    ];
    expect(trust.asked.map((a) => a.connectionChecks)).toEqual([expected, expected]);
  });

  it('still receives mail, with temperror checks, when the resolver does not answer', async () => {
    const app = buildSmtpApp(
      { db: env.store.db, enqueueInbound: async () => {}, log: silentLogger() },
      {
        hostname: 'mx.in.test',
        tls,
        limits: LIMITS,
        trust: { dnsServers: [`127.0.0.1:${await closedPort()}`], trustedNetworks: parseTrustedNetworks('none') },
        screening: { connectionChecks: { dnsblZones: ['bl.test'], dnsblScore: 3 }, greylist: { redis: env.redis, delaySeconds: 0 } },
      },
    );
    listeners.push(app);
    const c = await client(await app.listen(0, HOST));
    // Greylisting does not need DNS: the first attempt is greylisted, the retry accepted and the message received.
    expect((await c.cmd('MAIL FROM:<dnsdown@far.test>')).code).toBe(250);
    expect((await c.cmd('RCPT TO:<bob@in.test>')).code).toBe(451);
    expect((await c.cmd('RSET')).code).toBe(250);
    const reply = await c.sendMail('dnsdown@far.test', ['bob@in.test'], withAttachment('resolver down', 'x'));
    expect(reply.code).toBe(250);
    // The connection checks reached the stored decision as temporary errors that score nothing.
    const spoolId = Number(/queued as S(\d+)$/.exec(reply.text)![1]);
    const row = await env.store.db.selectFrom('spool').select('filter').where('id', '=', spoolId).executeTakeFirstOrThrow();
    expect(row.filter?.checks).toEqual(
      expect.arrayContaining([expect.objectContaining({ check: 'dnsbl', result: 'temperror', score: 0 }), expect.objectContaining({ check: 'rdns', result: 'temperror', score: 0 })]),
    );
  });

  it('does not check a client in the trusted networks', async () => {
    const { port, trust, runs } = await listener([HOST]);
    const c = await client(port);
    expect((await c.sendMail('ann@far.test', ['bob@in.test'], withAttachment('trusted', 'x'))).code).toBe(250);
    expect(runs()).toBe(0);
    expect(trust.asked[0]!.connectionChecks).toBeUndefined();
  });
});
