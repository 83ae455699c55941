import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { createAppPasswordRepository } from '../repositories/credential.repository.js';
import { mayUseSenderAddress, resolveRecipient } from '../mail/recipient-routing.js';
import { ingestMessage } from '../mail/mailbox-writer/index.js';
import { summarizeMessage } from '../mail/parse.js';
import { runCli } from './main.js';
import { startDnsmasq } from '../../../tests/helpers/dnsmasq.js';
import { TEST_SECRET_KEY, testSecrets } from '../../../tests/helpers/secrets.js';

let store: TestStore;

async function cli(...argv: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runCli(argv, (line) => lines.push(line));
  return { code, lines };
}

beforeAll(async () => {
  store = await createTestStore();
  process.env.DATABASE_URL = store.url; // the CLI reads the configured store
  process.env.SECRET_KEY = TEST_SECRET_KEY; // and seals DKIM keys with it (not DATA_DIR/secret.key under the checkout)
});
afterAll(async () => {
  delete process.env.DATABASE_URL;
  delete process.env.SECRET_KEY;
  await store.drop();
});

describe('mailyard CLI', () => {
  it('adds and lists domains, users and aliases', async () => {
    expect(await cli('domain', 'add', 'cli.test')).toEqual({ code: 0, lines: ['added domain cli.test'] });
    expect((await cli('user', 'add', 'root@cli.test', '--password', 'root password', '--admin')).lines).toEqual(['added user root@cli.test (admin)']);
    await cli('user', 'add', 'eve@cli.test', '--password', 'eve password');
    await cli('alias', 'add', 'info@cli.test', 'eve@cli.test');
    expect((await cli('domain', 'list')).lines).toEqual(['cli.test']);
    expect((await cli('user', 'list')).lines).toEqual(['eve@cli.test   user', 'root@cli.test  admin']);
    expect((await cli('alias', 'list')).lines).toEqual(['info@cli.test  ->  eve@cli.test']);
    expect((await cli('mailbox', 'list', 'eve@cli.test')).lines[0]).toMatch(/^INBOX\s+\\Inbox\s+0 messages\s+0 unread$/);
  });

  it('shows and relaxes the inbound checks of a domain (domain trust), refusing unknown values', async () => {
    await cli('domain', 'add', 'trust.test');
    expect(await cli('domain', 'trust', 'trust.test')).toEqual({ code: 0, lines: ['trust.test: dmarc-reject enforce, own-domain-spoofing reject, greylisting on'] });
    expect((await cli('domain', 'trust', 'trust.test', '--dmarc-reject', 'quarantine')).lines).toEqual(['trust.test: dmarc-reject quarantine, own-domain-spoofing reject, greylisting on']);
    expect((await cli('domain', 'trust', 'trust.test', '--own-domain-spoofing', 'ignore')).lines).toEqual(['trust.test: dmarc-reject quarantine, own-domain-spoofing ignore, greylisting on']);
    expect((await cli('domain', 'trust', 'trust.test', '--greylisting', 'off')).lines).toEqual(['trust.test: dmarc-reject quarantine, own-domain-spoofing ignore, greylisting off']);
    await expect(cli('domain', 'trust', 'trust.test', '--greylisting', 'later')).rejects.toThrow(/--greylisting is on or off/);
    await expect(cli('domain', 'trust', 'trust.test', '--dmarc-reject', 'maybe')).rejects.toThrow(/--dmarc-reject is enforce, quarantine or ignore/);
  });

  it('adds, lists and removes a catch-all alias (@domain), documented in the usage', async () => {
    expect((await cli('--help')).lines[0]).toMatch(/@domain for a catch-all/);
    expect(await cli('alias', 'add', '@CLI.test', 'eve@cli.test')).toEqual({ code: 0, lines: ['@CLI.test -> eve@cli.test'] });
    expect((await cli('alias', 'list')).lines).toEqual(expect.arrayContaining(['@cli.test      ->  eve@cli.test', 'info@cli.test  ->  eve@cli.test']));
    const eve = await store.db.selectFrom('users').select('id').where('address', '=', 'eve@cli.test').executeTakeFirstOrThrow();
    expect(await resolveRecipient(store.db, 'anything@cli.test')).toMatchObject({ kind: 'local', userId: eve.id });
    await expect(cli('alias', 'add', '@cli.test', 'root@cli.test')).rejects.toThrow(/already has a catch-all/);
    expect((await cli('alias', 'remove', '@cli.test')).lines).toEqual(['removed alias @cli.test']);
    expect(await resolveRecipient(store.db, 'anything@cli.test')).toMatchObject({ kind: 'unknown' });
  });

  it('lists messages of a mailbox, also as JSON', async () => {
    const user = await store.db.selectFrom('users').select('id').where('address', '=', 'eve@cli.test').executeTakeFirstOrThrow();
    const raw = Buffer.from('From: Zed <zed@far.test>\r\nSubject: Quarterly\r\nMessage-ID: <q@far.test>\r\n\r\nnumbers\r\n');
    await ingestMessage({ db: store.db, events: { publish: async () => undefined } }, { userId: user.id, mailbox: { specialUse: '\\Inbox' }, content: { raw }, summary: await summarizeMessage(raw) });
    const json = await cli('message', 'list', 'eve@cli.test', '--json');
    expect(JSON.parse(json.lines[0]!)).toMatchObject([{ uid: 1, subject: 'Quarterly', messageId: '<q@far.test>', from: [{ name: 'Zed', address: 'zed@far.test' }] }]);
    expect((await cli('message', 'list', 'eve@cli.test')).lines[0]).toMatch(/^1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+zed@far.test\s+Quarterly$/);
  });

  it('prints the DNS records to publish, checks them live (--check) and rotates the DKIM key', async () => {
    process.env.MAIL_HOSTNAME = 'mx.cli.test';
    const dns = await startDnsmasq({ localDomains: ['cli.test'], mx: [{ name: 'cli.test', host: 'mx.cli.test' }], txt: [{ name: 'cli.test', value: 'v=spf1 mx -all' }] });
    try {
      const plain = await cli('dns', 'cli.test');
      expect(plain.code).toBe(0);
      expect(plain.lines[0]).toMatch(/^cli\.test\s+MX\s+10 mx\.cli\.test$/);
      expect(plain.lines.some((l) => /^my\d{6}\._domainkey\.cli\.test\s+TXT\s+v=DKIM1; k=rsa; p=/.test(l))).toBe(true);
      expect(plain.lines.some((l) => l.includes('_dmarc.cli.test') && l.includes('v=DMARC1; p=quarantine; rua=mailto:postmaster@cli.test'))).toBe(true);
      expect(plain.lines.join('\n')).not.toContain('PRIVATE KEY');

      process.env.DNS_SERVERS = dns.server;
      const checked = await cli('dns', 'cli.test', '--check');
      expect(checked.code).toBe(1);
      expect(checked.lines[0]).toMatch(/^ok\s+cli\.test\s+MX/);
      expect(checked.lines[1]).toMatch(/^ok\s+cli\.test\s+TXT\s+v=spf1 mx -all/);
      expect(checked.lines.find((l) => l.includes('_dmarc.'))).toMatch(/^FAIL .*MISSING \(ENOTFOUND\)$/);

      const rotated = await cli('dkim', 'rotate', 'cli.test');
      expect(rotated.code).toBe(0);
      expect(rotated.lines[0]).toMatch(/^new DKIM key for cli\.test, selector my\d{6}-2; publish:$/);
      expect(rotated.lines[1]).toMatch(/^my\d{6}-2\._domainkey\.cli\.test {2}TXT {2}v=DKIM1; k=rsa; p=/);
      await expect(cli('dkim', 'rotate', 'nowhere.test')).rejects.toThrow(/not served here/);

      // The keys it made are sealed with SECRET_KEY; `dkim seal` seals one stored before sealing existed.
      const storedKeys = () => store.db.selectFrom('dkim_keys').select(['id', 'private_key_pem']).orderBy('id').execute();
      const keys = await storedKeys();
      expect(keys.length).toBeGreaterThanOrEqual(2); // cli.test's two, and the other domains' of this file
      expect(keys.every((k) => k.private_key_pem.startsWith('v1:'))).toBe(true);
      const pem = testSecrets.open(keys[0]!.private_key_pem);
      await store.db.updateTable('dkim_keys').set({ private_key_pem: pem }).where('id', '=', keys[0]!.id).execute();
      expect(await cli('dkim', 'seal')).toEqual({ code: 0, lines: ['sealed 1 DKIM private key(s)'] });
      expect(await cli('dkim', 'seal')).toEqual({ code: 0, lines: ['every DKIM private key is sealed already'] });
      const [resealed] = await storedKeys();
      expect(resealed!.private_key_pem).toMatch(/^v1:/);
      expect(testSecrets.open(resealed!.private_key_pem)).toBe(pem);
    } finally {
      delete process.env.MAIL_HOSTNAME;
      delete process.env.DNS_SERVERS;
      await dns.stop();
    }
  });

  it('alias add --allow-send lets the target also send as the alias; without it the alias only receives', async () => {
    await cli('user', 'add', 'max@cli.test', '--password', 'max password');
    const max = await store.db.selectFrom('users').select('id').where('address', '=', 'max@cli.test').executeTakeFirstOrThrow();
    expect((await cli('alias', 'add', 'orders@cli.test', 'max@cli.test', '--allow-send')).lines).toEqual(['orders@cli.test -> max@cli.test (may send as it)']);
    expect((await cli('alias', 'add', 'inbox@cli.test', 'max@cli.test')).lines).toEqual(['inbox@cli.test -> max@cli.test']);
    expect((await cli('alias', 'list')).lines).toEqual(expect.arrayContaining([expect.stringMatching(/^orders@cli\.test\s+->\s+max@cli\.test\s+may send$/), expect.stringMatching(/^inbox@cli\.test\s+->\s+max@cli\.test$/)]));
    expect(await mayUseSenderAddress(store.db, max.id, 'orders@cli.test')).toBe(true);
    expect(await mayUseSenderAddress(store.db, max.id, 'inbox@cli.test')).toBe(false);
    expect(await resolveRecipient(store.db, 'inbox@cli.test')).toMatchObject({ kind: 'local', userId: max.id });
  });

  it('user passwd sets the password and revokes all of the user\'s app passwords', async () => {
    await cli('user', 'add', 'pat@cli.test', '--password', 'pat password');
    const pat = await store.db.selectFrom('users').select('id').where('address', '=', 'pat@cli.test').executeTakeFirstOrThrow();
    const apps = createAppPasswordRepository(store.db);
    await apps.insert(pat.id, 'Phone', 'hash 1');
    await apps.insert(pat.id, 'Laptop', 'hash 2');
    expect(await cli('user', 'passwd', 'pat@cli.test', '--password', 'pat new password')).toEqual({ code: 0, lines: ['password changed for pat@cli.test; 2 app password(s) revoked'] });
    expect(await apps.list(pat.id)).toEqual([]);
  });

  it('answers bad input with an error that names the fix', async () => {
    await expect(cli('user', 'add', 'not-an-address', '--password', 'long enough')).rejects.toThrow(/not a valid mail address/);
    await expect(cli('user', 'add', 'x@nowhere.test', '--password', 'long enough')).rejects.toThrow(/mailyard domain add nowhere.test/);
    await expect(cli('user', 'add', 'eve@cli.test', '--password', 'long enough')).rejects.toThrow(/already exists/);
    await expect(cli('user', 'add', 'new@cli.test')).rejects.toThrow(/missing --password/);
    await expect(cli('message', 'list', 'eve@cli.test', '--mailbox', 'Nope')).rejects.toThrow(/no mailbox "Nope"/);
    await expect(cli('frobnicate')).rejects.toThrow(/unknown command/);
    await expect(cli('user', 'list', '--bogus')).rejects.toThrow(/Unknown option/);
  });
});
