import { parseArgs } from 'node:util';
import { createAccountsService } from '../accounts/accounts.service.js';
import { activeDkimPublicKey, dkimTxtRecord, rotateDkimKey } from '../accounts/dkim.service.js';
import { checkRecords, createDnsResolver, expectedRecords, type CheckedRecord, type ExpectedRecord } from '../accounts/dns-helper.js';
import { ConfigError, loadConfig, schemas, type BaseConfig } from '../config/load-config.js';
import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { findRunningLocalPostgres, startLocalPostgres } from '../local/postgres.js';
import { silentLogger } from '../log/logger.js';
import { createDomainRepository, type DomainTrustPolicy } from '../repositories/domain.repository.js';
import { createMailboxRepository } from '../repositories/mailbox.repository.js';
import { createMessageRepository } from '../repositories/message.repository.js';
import { openStore } from '../runtime/store.js';

/**
 * `npx mailyard <command>`: administration against the configured store. With DATABASE_URL it
 * uses that server; otherwise the private PostgreSQL under DATA_DIR, joining the running one when
 * `npm start` is up and starting it for the duration of the command when not.
 */

const USAGE = `usage: mailyard <command>

  domain add <domain>                       serve mail for a domain
  domain list
  domain remove <domain>                    (only when it has no users)
  domain trust <domain> [--dmarc-reject enforce|quarantine|ignore] [--own-domain-spoofing reject|quarantine|ignore]
                                            show or relax the inbound checks for mail to/from the domain
  user add <address> --password <pw> [--admin]
  user list [--domain <domain>]
  user remove <address>
  user passwd <address> --password <pw>
  alias add <alias> <target-address> [--allow-send]
                                            <alias> is local@domain, or @domain for a catch-all;
                                            --allow-send: the target may also send as it
  alias list
  alias remove <alias>
  mailbox list <address>
  message list <address> [--mailbox INBOX] [--limit 50] [--json]
  dns <domain> [--check]                    the DNS records to publish (--check: look them up live)
  dkim rotate <domain>                      a new DKIM key (publish its record; old keys stay valid)

Environment: DATABASE_URL (else the private PostgreSQL under DATA_DIR, default ./data),
MAIL_HOSTNAME (the MX target), DNS_SERVERS (for dns --check; default the system's).`;

class UsageError extends Error {}

type Out = (line: string) => void;

async function withStore<T>(fn: (db: Db, config: BaseConfig) => Promise<T>): Promise<T> {
  const config = loadConfig(schemas.base('local'));
  const log = silentLogger();
  let url = config.DATABASE_URL;
  let stopLocal: (() => Promise<void>) | undefined;
  if (!url) {
    const running = findRunningLocalPostgres(config.DATA_DIR);
    if (running) url = running.url;
    else {
      const started = await startLocalPostgres({ dataDir: config.DATA_DIR });
      url = started.url;
      stopLocal = () => started.stop();
    }
  }
  const store = await openStore(url, log, { poolSize: 2, applicationName: 'mailyard-cli' });
  try {
    return await fn(store.db, config);
  } finally {
    await store.close();
    await stopLocal?.();
  }
}

function table(rows: string[][]): string[] {
  if (rows.length === 0) return [];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
}

function trustPolicyChange(dmarcReject: string | undefined, ownDomainSpoofing: string | undefined): Partial<DomainTrustPolicy> {
  const change: Partial<DomainTrustPolicy> = {};
  if (dmarcReject !== undefined) {
    if (dmarcReject !== 'enforce' && dmarcReject !== 'quarantine' && dmarcReject !== 'ignore') throw new UsageError('--dmarc-reject is enforce, quarantine or ignore');
    change.dmarcReject = dmarcReject;
  }
  if (ownDomainSpoofing !== undefined) {
    if (ownDomainSpoofing !== 'reject' && ownDomainSpoofing !== 'quarantine' && ownDomainSpoofing !== 'ignore') throw new UsageError('--own-domain-spoofing is reject, quarantine or ignore');
    change.ownDomainSpoofing = ownDomainSpoofing;
  }
  return change;
}

export async function runCli(argv: string[], out: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      password: { type: 'string' },
      admin: { type: 'boolean', default: false },
      'allow-send': { type: 'boolean', default: false },
      domain: { type: 'string' },
      mailbox: { type: 'string', default: 'INBOX' },
      limit: { type: 'string', default: '50' },
      json: { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
      'dmarc-reject': { type: 'string' },
      'own-domain-spoofing': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [area, action, ...args] = positionals;
  if (values.help || !area) {
    out(USAGE);
    return values.help ? 0 : 2;
  }
  // `dns <domain>` takes its argument where the others have an action.
  const key = area === 'dns' ? 'dns' : `${area} ${action ?? ''}`.trim();

  return withStore(async (db, config) => {
    const accounts = createAccountsService({ db });
    switch (key) {
      case 'domain add': {
        const d = await accounts.addDomain(need(args[0], '<domain>'));
        out(`added domain ${d.name}`);
        return 0;
      }
      case 'domain list':
        for (const d of await accounts.listDomains()) out(d.name);
        return 0;
      case 'domain remove':
        await accounts.removeDomain(need(args[0], '<domain>'));
        out(`removed domain ${args[0]}`);
        return 0;
      case 'domain trust': {
        const domain = await accounts.requireDomain(need(args[0], '<domain>'));
        const change = trustPolicyChange(values['dmarc-reject'], values['own-domain-spoofing']);
        const repo = createDomainRepository(db);
        const policy = Object.keys(change).length > 0 ? await repo.updateTrustPolicy(domain.id, change) : (await repo.trustPolicies([domain.name])).get(domain.name);
        out(`${domain.name}: dmarc-reject ${policy!.dmarcReject}, own-domain-spoofing ${policy!.ownDomainSpoofing}`);
        return 0;
      }
      case 'user add': {
        const u = await accounts.addUser({ address: need(args[0], '<address>'), password: need(values.password, '--password <pw>'), role: values.admin ? 'admin' : 'user' });
        out(`added user ${u.address}${u.role === 'admin' ? ' (admin)' : ''}`);
        return 0;
      }
      case 'user list':
        for (const line of table((await accounts.listUsers(values.domain)).map((u) => [u.address, u.role, u.disabled ? 'disabled' : '']))) out(line);
        return 0;
      case 'user remove':
        await accounts.removeUser(need(args[0], '<address>'));
        out(`removed user ${args[0]} and all their mail`);
        return 0;
      case 'user passwd':
      {
        const revoked = await accounts.setPassword(need(args[0], '<address>'), need(values.password, '--password <pw>'));
        out(`password changed for ${args[0]}; ${revoked} app password(s) revoked`);
      }
        return 0;
      case 'alias add':
        await accounts.addAlias(need(args[0], '<alias>'), need(args[1], '<target-address>'), { allowSend: values['allow-send'] });
        out(`${args[0]} -> ${args[1]}${values['allow-send'] ? ' (may send as it)' : ''}`);
        return 0;
      case 'alias list':
        for (const line of table((await accounts.listAliases()).map((a) => [a.address, '->', a.targetAddress, a.allowSend ? 'may send' : '']))) out(line);
        return 0;
      case 'alias remove':
        await accounts.removeAlias(need(args[0], '<alias>'));
        out(`removed alias ${args[0]}`);
        return 0;
      case 'mailbox list': {
        const user = await accounts.requireUser(need(args[0], '<address>'));
        const rows = (await createMailboxRepository(db).list(user.id)).map((m) => [m.name, m.specialUse ?? '', `${m.messageCount} messages`, `${m.unseenCount} unread`]);
        for (const line of table(rows)) out(line);
        return 0;
      }
      case 'message list': {
        const user = await accounts.requireUser(need(args[0], '<address>'));
        const mailbox = await createMailboxRepository(db).findByName(user.id, values.mailbox);
        if (!mailbox) throw new AppError('mailbox.not_found', `${user.address} has no mailbox "${values.mailbox}" (see: mailyard mailbox list ${user.address})`, 404);
        const limit = Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new UsageError('--limit must be a whole number from 1 to 100000');
        const messages = await createMessageRepository(db).listInMailbox(user.id, mailbox.id, { limit });
        if (values.json) {
          out(JSON.stringify(messages.map((m) => ({ id: m.id, uid: m.uid, threadId: m.threadId, messageId: m.messageId, date: m.internalDate.toISOString(), from: m.from, to: m.to, subject: m.subject, size: m.size, flags: m.flags, hasAttachments: m.hasAttachments }))));
        } else {
          for (const line of table(messages.map((m) => [String(m.uid), m.internalDate.toISOString().slice(0, 19).replace('T', ' '), m.from[0]?.address ?? '', m.subject]))) out(line);
        }
        return 0;
      }
      case 'dns': {
        if (args.length > 0) throw new UsageError('usage: mailyard dns <domain> [--check]');
        const domain = await accounts.requireDomain(need(action, '<domain>'));
        const dkim = await activeDkimPublicKey(db, domain.name);
        const expected = expectedRecords(domain.name, { mailHostname: config.MAIL_HOSTNAME, dkim, stsDate: domain.createdAt });
        const show = (r: ExpectedRecord) => [r.name, r.type, r.priority === undefined ? r.value : `${r.priority} ${r.value}`];
        if (!values.check) {
          for (const line of table(expected.map(show))) out(line);
          return 0;
        }
        const checked = await checkRecords(expected, createDnsResolver(config.DNS_SERVERS));
        const status = (r: CheckedRecord) => (r.ok ? 'ok' : `MISSING${r.error ? ` (${r.error})` : r.found.length ? ` (found: ${r.found.join(' | ')})` : ''}`);
        for (const line of table(checked.map((r) => [r.ok ? 'ok' : 'FAIL', ...show(r), r.ok ? '' : status(r)]))) out(line);
        return checked.every((r) => r.ok) ? 0 : 1;
      }
      case 'dkim rotate': {
        const domain = await accounts.requireDomain(need(args[0], '<domain>'));
        const key = await rotateDkimKey(db, domain.name);
        out(`new DKIM key for ${domain.name}, selector ${key.selector}; publish:`);
        out(`${key.selector}._domainkey.${domain.name}  TXT  ${dkimTxtRecord(key.publicKeyB64)}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${key}"`);
    }
  });
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const out: Out = (line) => process.stdout.write(`${line}\n`);
  try {
    process.exitCode = await runCli(argv, out);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      process.stderr.write(`mailyard: ${(err as Error).message}\n\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (err instanceof AppError || err instanceof ConfigError) {
      process.stderr.write(`mailyard: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`mailyard: unexpected error: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
