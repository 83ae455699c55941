import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../core/src/log/logger.js';
import { createTestBackend, type TestBackend } from '../../../../tests/helpers/backend.js';
import { buildBackend } from '../../app.js';

let t: TestBackend;
beforeAll(async () => {
  t = await createTestBackend({ mailHostname: 'mail.m.test' });
  await t.accounts.addDomain('m.test');
  await t.accounts.addUser({ address: 'ann@m.test', password: 'ann password' });
});
afterAll(async () => {
  await t.close();
});

const outlookRequest = (address: string) =>
  '<?xml version="1.0" encoding="utf-8"?>\r\n' +
  '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">' +
  `<Request><EMailAddress>${address}</EMailAddress>` +
  '<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>' +
  '</Request></Autodiscover>';

/** The <tag>…</tag> blocks of an XML answer, for one-line comparisons. */
const blocks = (xml: string, tag: string) => [...xml.matchAll(new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]!.replace(/\s+/g, ''));

describe('Thunderbird autoconfig', () => {
  for (const url of ['/.well-known/autoconfig/mail/config-v1.1.xml', '/mail/config-v1.1.xml']) {
    it(`${url} gives IMAP and submission on MAIL_HOSTNAME with the full address as user name`, async () => {
      const res = await t.app.inject({ method: 'GET', url: `${url}?emailaddress=Ann%40M.test` });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/xml; charset=utf-8');
      expect(res.body).toContain('<clientConfig version="1.1">');
      expect(res.body).toContain('<emailProvider id="m.test">');
      const user = '<authentication>password-cleartext</authentication><username>ann@m.test</username>';
      expect(blocks(res.body, 'incomingServer')).toEqual([
        `<hostname>mail.m.test</hostname><port>993</port><socketType>SSL</socketType>${user}`,
        `<hostname>mail.m.test</hostname><port>143</port><socketType>STARTTLS</socketType>${user}`,
      ]);
      expect(blocks(res.body, 'outgoingServer')).toEqual([
        `<hostname>mail.m.test</hostname><port>465</port><socketType>SSL</socketType>${user}`,
        `<hostname>mail.m.test</hostname><port>587</port><socketType>STARTTLS</socketType>${user}`,
      ]);
    });
  }

  it('answers for any address of a served domain, without saying whether it exists', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/mail/config-v1.1.xml?emailaddress=nobody@m.test' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<username>nobody@m.test</username>');
  });

  it('escapes the address in the XML', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/mail/config-v1.1.xml?emailaddress=${encodeURIComponent("o'neil&co@m.test")}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<username>o&apos;neil&amp;co@m.test</username>');
    expect(res.body).not.toContain("o'neil&co");
  });

  it('is 404 domain.not_found for a domain not served here', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=ann@elsewhere.test' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('domain.not_found');
  });

  it('is 400 without an address or with one that is not an address', async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/mail/config-v1.1.xml' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.code).toBe('request.invalid');
    const bad = await t.app.inject({ method: 'GET', url: '/mail/config-v1.1.xml?emailaddress=not-an-address' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('address.invalid');
  });
});

describe('Outlook autodiscover', () => {
  const protocols = [
    '<Type>IMAP</Type><Server>mail.m.test</Server><Port>993</Port><LoginName>ann@m.test</LoginName><DomainRequired>off</DomainRequired><SPA>off</SPA><SSL>on</SSL><Encryption>SSL</Encryption><AuthRequired>on</AuthRequired>',
    '<Type>IMAP</Type><Server>mail.m.test</Server><Port>143</Port><LoginName>ann@m.test</LoginName><DomainRequired>off</DomainRequired><SPA>off</SPA><SSL>off</SSL><Encryption>TLS</Encryption><AuthRequired>on</AuthRequired>',
    '<Type>SMTP</Type><Server>mail.m.test</Server><Port>465</Port><LoginName>ann@m.test</LoginName><DomainRequired>off</DomainRequired><SPA>off</SPA><SSL>on</SSL><Encryption>SSL</Encryption><AuthRequired>on</AuthRequired>',
    '<Type>SMTP</Type><Server>mail.m.test</Server><Port>587</Port><LoginName>ann@m.test</LoginName><DomainRequired>off</DomainRequired><SPA>off</SPA><SSL>off</SSL><Encryption>TLS</Encryption><AuthRequired>on</AuthRequired>',
  ];

  it('answers the POSTed request document with the email account settings', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/autodiscover/autodiscover.xml', headers: { 'content-type': 'text/xml' }, payload: outlookRequest('ann@m.test') });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/xml; charset=utf-8');
    expect(res.body).toContain('<AccountType>email</AccountType>');
    expect(res.body).toContain('<Action>settings</Action>');
    expect(blocks(res.body, 'Protocol')).toEqual(protocols);
  });

  it('answers GET with the address as a query parameter', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/autodiscover/autodiscover.xml?emailaddress=ann@m.test' });
    expect(res.statusCode).toBe(200);
    expect(blocks(res.body, 'Protocol')).toEqual(protocols);
  });

  it('is 404 for a domain not served here and 400 for a request without an address', async () => {
    const other = await t.app.inject({ method: 'POST', url: '/autodiscover/autodiscover.xml', headers: { 'content-type': 'application/xml' }, payload: outlookRequest('ann@elsewhere.test') });
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe('domain.not_found');
    const empty = await t.app.inject({ method: 'POST', url: '/autodiscover/autodiscover.xml', headers: { 'content-type': 'text/xml' }, payload: '<Autodiscover/>' });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('request.invalid');
  });
});

/** Reads a property list with Python's plistlib: a parser that is not ours. */
const readPlist = (xml: string): Record<string, unknown> =>
  JSON.parse(execFileSync('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], { input: xml }).toString());

describe('Apple configuration profile', () => {
  it("is the signed-in user's account: IMAP on 993 and submission on 465 over TLS, the address as user name, no password", async () => {
    const ann = await t.login('ann@m.test', 'ann password');
    await t.app.inject({ method: 'PATCH', url: '/api/account/settings', headers: ann.headers, payload: { displayName: 'Ann <Example> & Co' } });
    const res = await t.app.inject({ method: 'GET', url: '/api/account/mobileconfig', headers: ann.headers });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-apple-aspen-config');
    expect(res.headers['content-disposition']).toBe('attachment; filename="ann@m.test.mobileconfig"');
    const profile = readPlist(res.body);
    expect(profile).toMatchObject({ PayloadType: 'Configuration', PayloadVersion: 1, PayloadRemovalDisallowed: false });
    const [account, ...others] = profile.PayloadContent as Array<Record<string, unknown>>;
    expect(others).toEqual([]);
    expect(account).toMatchObject({
      PayloadType: 'com.apple.mail.managed',
      EmailAccountType: 'EmailTypeIMAP',
      EmailAddress: 'ann@m.test',
      EmailAccountName: 'Ann <Example> & Co',
      IncomingMailServerHostName: 'mail.m.test',
      IncomingMailServerPortNumber: 993,
      IncomingMailServerUseSSL: true,
      IncomingMailServerUsername: 'ann@m.test',
      IncomingMailServerAuthentication: 'EmailAuthPassword',
      OutgoingMailServerHostName: 'mail.m.test',
      OutgoingMailServerPortNumber: 465,
      OutgoingMailServerUseSSL: true,
      OutgoingMailServerUsername: 'ann@m.test',
      OutgoingPasswordSameAsIncomingPassword: true,
    });
    expect(account).not.toHaveProperty('IncomingPassword');
    expect(account).not.toHaveProperty('OutgoingPassword');
    expect(res.body).not.toContain('ann password');
    // The same profile each time, so installing it again replaces the account instead of adding one.
    const again = readPlist((await t.app.inject({ method: 'GET', url: '/api/account/mobileconfig', headers: ann.headers })).body);
    expect(again.PayloadUUID).toBe(profile.PayloadUUID);
    expect(String(profile.PayloadUUID)).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    expect(account!.PayloadUUID).not.toBe(profile.PayloadUUID);
  });

  it('is 401 without a session', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/account/mobileconfig' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('auth.required');
  });
});

describe('the ports', () => {
  it('are the configured public ones (IMAP_PORT, IMAPS_PORT, SUBMISSION_PORT, SMTPS_PORT)', async () => {
    const app = await buildBackend(
      { db: t.store.db, redis: t.redis, createSubscriber: () => t.redis.duplicate(), log: silentLogger() },
      { dataDir: t.dataDir, mailHostname: 'mx.m.test', clientPorts: { imap: 2143, imaps: 2993, submission: 2587, smtps: 2465 } },
    );
    try {
      const res = await app.inject({ method: 'GET', url: '/mail/config-v1.1.xml?emailaddress=ann@m.test' });
      expect(res.body.match(/<port>\d+<\/port>/g)).toEqual(['<port>2993</port>', '<port>2143</port>', '<port>2465</port>', '<port>2587</port>']);
      expect(res.body).toContain('<hostname>mx.m.test</hostname>');
    } finally {
      await app.close();
    }
  });
});
