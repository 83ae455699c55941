import { expect } from 'vitest';
import { createAccountsService, fileSpooled, parseTrustedNetworks, silentLogger } from '@mailyard/core';
import type { AuthenticationJson, FilterDecisionJson, SpoolVerdict } from '../../core/src/db/schema.js';
import { buildSmtpApp, type MxScreeningOptions, type MxTrustOptions, type SmtpApp } from '../../smtp-server/src/app.js';
import { startAuthDns, type AuthDns } from './mail-auth.js';
import { testSecrets } from './secrets.js';
import { createSmtpTestEnv, type SmtpTestEnv } from './smtp-test-env.js';
import { connect, type SmtpReply, type SmtpTranscript } from './smtp-transcript.js';

/**
 * The MX on the real store, as the inbound trust tests use it (authentication, the spam score,
 * rspamd, greylisting): an SMTP test env, the authentication DNS (dnsmasq publishing the records
 * of mail-auth.ts), local domains with their users, and `mx()`: a listener with the trust and
 * screening options given (by default the auth DNS and no trusted network, so 127.0.0.1 is an
 * outside client) and a client past EHLO. `file()` runs core's filer on the spool row a 250 named
 * and tells where each recipient's copy landed.
 */

export const MX_TEST_LIMITS = { maxMessageSize: 100_000, maxRecipients: 10, maxMessagesPerConnection: 100, maxConnectionsPerIp: 100, maxMessagesPerIpPerMinute: 1_000, maxClients: 500, maxDataPerIp: 10 };
const HOST = '127.0.0.1';

export interface MxTrustHarness {
  env: SmtpTestEnv;
  auth: AuthDns;
  /** User ids by address. */
  users: Map<string, number>;
  mx(trust?: MxTrustOptions, screening?: MxScreeningOptions): Promise<SmtpTranscript>;
  spooledCount(): Promise<number>;
  /** Files the spool row of a 250 reply; its spool decision and each recipient's copy, by user id. */
  file(reply: SmtpReply): Promise<FiledCopies>;
  /** Closes the clients of a test (afterEach). */
  closeClients(): Promise<void>;
  close(): Promise<void>;
}

export interface FiledCopies {
  spool: { filter: FilterDecisionJson | null; verdict: SpoolVerdict };
  byUser: Map<number, { special_use: string | null; authentication: AuthenticationJson | null; filter: FilterDecisionJson | null; trace_headers: string; user_id: number }>;
}

/** `addresses`: the local users to create; their domains are added first. */
export async function createMxTrustHarness(addresses: readonly string[]): Promise<MxTrustHarness> {
  const [env, auth] = await Promise.all([createSmtpTestEnv('mx.in.test'), startAuthDns()]);
  const { store } = env;
  const accounts = createAccountsService({ db: store.db, secrets: testSecrets });
  for (const domain of new Set(addresses.map((a) => a.slice(a.indexOf('@') + 1)))) await accounts.addDomain(domain);
  const users = new Map<string, number>();
  for (const address of addresses) users.set(address, (await accounts.addUser({ address, password: `${address} password` })).id);
  const apps: SmtpApp[] = [];
  const clients: SmtpTranscript[] = [];

  return {
    env,
    auth,
    users,
    async mx(trust = {}, screening) {
      const app = buildSmtpApp(
        { db: store.db, enqueueInbound: async () => {}, log: silentLogger() },
        {
          hostname: 'mx.in.test',
          tls: env.tls,
          limits: MX_TEST_LIMITS,
          trust: { dnsServers: [auth.dns.server], trustedNetworks: parseTrustedNetworks('none'), ...trust },
          ...(screening ? { screening } : {}),
        },
      );
      apps.push(app);
      const client = await connect(HOST, await app.listen(0, HOST));
      clients.push(client);
      expect((await client.cmd('EHLO client.example')).code).toBe(250);
      return client;
    },
    spooledCount: async () => Number((await store.db.selectFrom('spool').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
    async file(reply) {
      expect(reply.code, `the MX answered: ${reply.text}`).toBe(250); // the text names a refusal's cause (spam score, DMARC)
      const spoolId = Number(/queued as S(\d+)$/.exec(reply.text)![1]);
      await fileSpooled({ db: store.db, events: { publish: async () => {} }, log: silentLogger() }, spoolId);
      const spool = await store.db.selectFrom('spool').select(['filter', 'verdict']).where('id', '=', spoolId).executeTakeFirstOrThrow();
      const rows = await store.db
        .selectFrom('messages')
        .innerJoin('mailboxes', 'mailboxes.id', 'messages.mailbox_id')
        .select(['mailboxes.special_use', 'messages.authentication', 'messages.filter', 'messages.trace_headers', 'messages.user_id'])
        .where('messages.spool_id', '=', spoolId)
        .execute();
      return { spool, byUser: new Map(rows.map((r) => [r.user_id, r])) };
    },
    closeClients: async () => {
      await Promise.all(clients.splice(0).map((c) => c.close()));
    },
    async close() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await Promise.all(apps.splice(0).map((a) => a.close()));
      await auth.stop();
      await env.close();
    },
  };
}
