import { createPublicKey, sign, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activeDkimKey } from '@mailyard/core';
import { createTestBackend, type Agent, type TestBackend } from '../../../../tests/helpers/backend.js';
import { startDnsmasq, type TestDnsServer } from '../../../../tests/helpers/dnsmasq.js';
import { testSecrets } from '../../../../tests/helpers/secrets.js';

let t: TestBackend;
let dns: TestDnsServer;
let admin: Agent;
let dadmin: Agent;
let plain: Agent;

function call(agent: Agent, method: 'GET' | 'POST', url: string) {
  return t.app.inject({ method, url, headers: agent.headers });
}

beforeAll(async () => {
  dns = await startDnsmasq({
    localDomains: ['a.test', 'b.test'],
    mx: [{ name: 'a.test', host: 'mx.mailyard.test' }],
    txt: [
      { name: 'a.test', value: 'v=spf1 mx -all' },
      { name: '_dmarc.a.test', value: 'v=DMARC1; p=none' },
    ],
  });
  t = await createTestBackend({ dnsServers: [dns.server], mailHostname: 'mx.mailyard.test' });
  await t.accounts.addDomain('a.test');
  await t.accounts.addDomain('b.test');
  await t.accounts.addUser({ address: 'root@a.test', password: 'root password', role: 'admin' });
  const da = await t.accounts.addUser({ address: 'boss@b.test', password: 'boss password', role: 'domain-admin' });
  const b = await t.store.db.selectFrom('domains').select('id').where('name', '=', 'b.test').executeTakeFirstOrThrow();
  await t.store.db.insertInto('domain_admins').values({ user_id: da.id, domain_id: b.id }).execute();
  await t.accounts.addUser({ address: 'joe@a.test', password: 'joe password' });
  admin = await t.login('root@a.test', 'root password');
  dadmin = await t.login('boss@b.test', 'boss password');
  plain = await t.login('joe@a.test', 'joe password');
});
afterAll(async () => {
  await t?.close();
  await dns?.stop();
});

describe('DKIM and DNS admin routes', () => {
  it('gives a plain user 403 and a domain-admin of another domain 404', async () => {
    for (const [method, url] of [
      ['POST', '/api/admin/domains/a.test/dkim/rotate'],
      ['GET', '/api/admin/domains/a.test/dns'],
    ] as const) {
      const asUser = await call(plain, method, url);
      expect(asUser.statusCode, url).toBe(403);
      expect(asUser.json().error.code).toBe('auth.forbidden');
      const asOther = await call(dadmin, method, url);
      expect(asOther.statusCode, url).toBe(404);
      expect(asOther.json().error.code).toBe('domain.not_found');
    }
    expect((await call(admin, 'GET', '/api/admin/domains/none.test/dns')).statusCode).toBe(404);
  });

  it('rotates the key (admin or the domain-admin) and answers with the public record only', async () => {
    const before = (await activeDkimKey({ db: t.store.db, secrets: testSecrets }, 'b.test'))!;
    const res = await call(dadmin, 'POST', '/api/admin/domains/B.test/dkim/rotate');
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('PRIVATE KEY');
    const body = res.json() as { selector: string; dnsRecord: { type: string; name: string; value: string } };
    expect(body.selector).not.toBe(before.selector);
    expect(body.dnsRecord).toMatchObject({ type: 'TXT', name: `${body.selector}._domainkey.b.test` });
    // The published key verifies what the new active private key signs.
    const after = (await activeDkimKey({ db: t.store.db, secrets: testSecrets }, 'b.test'))!;
    expect(after.selector).toBe(body.selector);
    const p = /p=([A-Za-z0-9+/=]+)/.exec(body.dnsRecord.value)![1]!;
    const data = Buffer.from('signed');
    expect(verify('sha256', data, createPublicKey({ key: Buffer.from(p, 'base64'), format: 'der', type: 'spki' }), sign('sha256', data, after.privateKeyPem))).toBe(true);
    const audit = await t.store.db.selectFrom('audit_log').select(['action', 'target']).where('action', '=', 'admin.domain.dkim_rotate').execute();
    expect(audit).toEqual([{ action: 'admin.domain.dkim_rotate', target: 'b.test' }]);
  });

  it('lists the expected records with a live check against the configured DNS server', async () => {
    const res = await call(admin, 'GET', '/api/admin/domains/a.test/dns');
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('PRIVATE KEY');
    const { records } = res.json() as { records: Array<{ purpose: string; type: string; name: string; value: string; ok: boolean; found: string[]; error?: string }> };
    expect(records.map((r) => r.purpose)).toEqual(['mx', 'spf', 'dkim', 'dmarc', 'mta-sts']);
    const by = Object.fromEntries(records.map((r) => [r.purpose, r]));
    expect(by.mx).toMatchObject({ type: 'MX', name: 'a.test', value: 'mx.mailyard.test', ok: true, found: ['10 mx.mailyard.test'] });
    expect(by.spf).toMatchObject({ ok: true, found: ['v=spf1 mx -all'] });
    expect(by.dmarc).toMatchObject({ ok: true });
    expect(by.dkim!.ok).toBe(false);
    expect(by.dkim!.name).toMatch(/^my\d{6}\._domainkey\.a\.test$/);
    expect(by.dkim!.value).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/);
    expect(by['mta-sts']).toMatchObject({ ok: false, found: [], error: 'ENOTFOUND' });
  });
});
