import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createAccountsService } from '../accounts/accounts.service.js';
import { activeDkimPublicKey, dkimTxtRecord, rotateDkimKey, sealLegacyDkimKeys } from '../accounts/dkim.service.js';
import { checkRecords, createDnsResolver, expectedRecords, type CheckedRecord, type ExpectedRecord } from '../accounts/dns-helper.js';
import { ConfigError, configuredRedisTarget, loadConfig, schemas, type BaseConfig } from '../config/load-config.js';
import { createSecretBox, loadSecretKey, type SecretBox } from '../auth/secret-box.js';
import { backupDatabase, BackupError, otherClients, readBackupHeader, restoreDatabase, type BackupProgress } from '../db/backup.js';
import { createDb, type Db } from '../db/client.js';
import { migrateToLatest, planMigrations } from '../db/migrate.js';
import { createRedisEventPublisher } from '../events/publisher.js';
import { exportMailboxes, ExportError, type ExportCursor } from '../mail/transfer/export.js';
import { importMessages, mboxImportItems, type ImportItem } from '../mail/transfer/import.js';
import { isMaildir, readMaildir } from '../mail/transfer/maildir.js';
import { AppError } from '../errors.js';
import { findRunningLocalPostgres, startLocalPostgres } from '../local/postgres.js';
import { silentLogger } from '../log/logger.js';
import { createRedis } from '../queue/redis.js';
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
  domain trust <domain> [--dmarc-reject enforce|quarantine|ignore] [--own-domain-spoofing reject|quarantine|ignore] [--greylisting on|off]
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
  dkim seal                                 seal DKIM private keys stored before sealing existed
                                            (the outbound worker also seals each on first use)
  export <address> <file.mbox> [--mailbox <name>] [--resume]
                                            a user's mail (every folder, or one) as one mbox;
                                            --resume continues an interrupted export
  import <address> <file.mbox|Maildir> [--mailbox <name>]
                                            keeps folders, flags and dates; importing again adds
                                            nothing, so an interrupted import resumes by running it again
  backup <file>                             a consistent copy of everything: mail, accounts, keys
  migrate [--dry-run] [--no-backup]         apply pending schema migrations (the services also do at
                                            start; compose runs this once before them), after a backup
                                            into DATA_DIR/backups (--no-backup: without one);
                                            --dry-run: list what would run, change nothing
  restore <file> [--force]                  into a fresh install with the services stopped
                                            (--force: replace a database that holds data)

Environment: DATABASE_URL (else the private PostgreSQL under DATA_DIR, default ./data),
MAIL_HOSTNAME (the MX target), DNS_SERVERS (for dns --check; default the system's),
SECRET_KEY (seals DKIM keys; else DATA_DIR/secret.key: the same as the services').`;

class UsageError extends Error {}

type Out = (line: string) => void;

/**
 * The database to work on: DATABASE_URL, else the private PostgreSQL under DATA_DIR (the running
 * one when `npm start` is up, `running: true`; else started for the duration of `fn`).
 */
async function withDatabase<T>(fn: (url: string, config: BaseConfig, running: boolean) => Promise<T>): Promise<T> {
  const config = loadConfig(schemas.base('local'));
  if (config.DATABASE_URL) return fn(config.DATABASE_URL, config, false);
  const running = findRunningLocalPostgres(config.DATA_DIR);
  if (running) return fn(running.url, config, true);
  const started = await startLocalPostgres({ dataDir: config.DATA_DIR });
  try {
    return await fn(started.url, config, false);
  } finally {
    await started.stop();
  }
}

/** The store, the configuration and the box that seals DKIM keys (SECRET_KEY, else DATA_DIR/secret.key, as the services). */
async function withStore<T>(fn: (db: Db, config: BaseConfig, secrets: SecretBox) => Promise<T>): Promise<T> {
  return withDatabase(async (url, config) => {
    const secrets = createSecretBox(loadSecretKey(config.DATA_DIR, config.SECRET_KEY));
    const store = await openStore(url, silentLogger(), { poolSize: 2, applicationName: 'mailyard-cli' });
    try {
      return await fn(store.db, config, secrets);
    } finally {
      await store.close();
    }
  });
}

/** SECRET_KEY as the services read it (the CLI's base configuration does not carry it). */
const sealingKeyConfigured = () => Boolean(process.env.SECRET_KEY);

const megabytes = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;
const progressLine = (verb: string) => (p: BackupProgress) => process.stderr.write(`${verb} ${p.table}: ${p.rows.toLocaleString('en-US')} rows, ${megabytes(p.bytes)}\n`);

/** The database at `url` into `file`, with DATA_DIR/secret.key when secrets are sealed with it, showing progress. */
async function writeBackup(url: string, config: BaseConfig, file: string, out: Out): Promise<void> {
  const keyFile = path.join(config.DATA_DIR, 'secret.key');
  const secretKey = !sealingKeyConfigured() && fs.existsSync(keyFile) ? loadSecretKey(config.DATA_DIR) : null;
  const made = await backupDatabase({ connectionString: url, file, secretKey, onProgress: progressLine('backed up') });
  out(`backup written to ${file}: ${made.tables} tables, ${made.rows.toLocaleString('en-US')} rows, schema ${made.schema}`);
  if (secretKey) out('It holds the key that seals TOTP and DKIM secrets: keep the file as private as the server.');
  else if (sealingKeyConfigured()) out('Secrets are sealed with SECRET_KEY: restore with the same SECRET_KEY set.');
}

/** `backup <file>`: the database and, when secrets are sealed with DATA_DIR/secret.key, that key. */
async function backupCommand(file: string, out: Out): Promise<number> {
  return withDatabase(async (url, config) => {
    await writeBackup(url, config, file, out);
    return 0;
  });
}

/**
 * `migrate [--dry-run] [--no-backup]`: the pending migrations, forward (compose's one-shot
 * `migrate` service before the apps start). When there are some and the database holds a schema,
 * a backup into DATA_DIR/backups comes first; if it fails nothing is migrated. `--dry-run` lists
 * what would run and changes nothing.
 */
async function migrateCommand(options: { dryRun: boolean; backup: boolean }, out: Out): Promise<number> {
  return withDatabase(async (url, config) => {
    const { db } = createDb({ connectionString: url, max: 1, applicationName: 'mailyard-migrate' });
    try {
      const plan = await planMigrations(db);
      if (plan.pending.length === 0) {
        out('the database is up to date');
        return 0;
      }
      if (options.dryRun) {
        out(`schema ${plan.current ?? 'none (an empty database)'}; this version's is ${plan.target}`);
        out(`${plan.pending.length} pending migration${plan.pending.length === 1 ? '' : 's'} would run:`);
        for (const line of table(plan.pending.map((m) => [`  ${m.name}`, m.description]))) out(line);
        out('dry run: nothing was changed');
        return 0;
      }
      if (options.backup && plan.current) await backupBeforeMigrating(url, config, plan.current, plan.target, out);
      const applied = await migrateToLatest(db);
      out(applied.length > 0 ? `applied ${applied.length} migrations: ${applied.join(', ')}` : 'the database is up to date');
      return 0;
    } finally {
      await db.destroy();
    }
  });
}

/** DATA_DIR/backups/before-<from>-to-<to>-<UTC time>.mailyard.gz; a failure stops the migration, naming --no-backup. */
async function backupBeforeMigrating(url: string, config: BaseConfig, from: string, to: string, out: Out): Promise<void> {
  const number = (migration: string) => migration.split('_')[0];
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const file = path.join(config.DATA_DIR, 'backups', `before-${number(from)}-to-${number(to)}-${stamp}.mailyard.gz`);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeBackup(url, config, file, out);
  } catch (err) {
    throw new BackupError(`the backup before migrating failed, so nothing was migrated: ${(err as Error).message}. Fix that, or pass --no-backup to migrate without a backup`);
  }
}

/** `restore <file> [--force]`: into a fresh install (services stopped); the sealing key goes back into DATA_DIR. */
async function restoreCommand(file: string, force: boolean, out: Out): Promise<number> {
  const header = await readBackupHeader(file);
  return withDatabase(async (url, config, running) => {
    if (running) throw new BackupError('npm start is running on this DATA_DIR: stop it (Ctrl-C) before restoring, the restore replaces the database under it');
    const keyFile = path.join(config.DATA_DIR, 'secret.key');
    if (header.secretKey && !sealingKeyConfigured() && fs.existsSync(keyFile) && !loadSecretKey(config.DATA_DIR).equals(Buffer.from(header.secretKey, 'base64')) && !force) {
      throw new BackupError(`${keyFile} differs from the key in the backup: restore into a fresh DATA_DIR, or pass --force to replace the key`);
    }
    const others = await otherClients(url);
    if (others.length > 0 && !force) throw new BackupError(`other clients are connected to the database (${others.join(', ')}): stop the services first, or pass --force`);
    const restored = await restoreDatabase({ connectionString: url, file, force, onProgress: progressLine('restored') });
    if (header.secretKey && !sealingKeyConfigured()) {
      fs.mkdirSync(config.DATA_DIR, { recursive: true });
      fs.writeFileSync(keyFile, `${Buffer.from(header.secretKey, 'base64').toString('hex')}\n`, { mode: 0o600 });
    }
    out(`restored ${file} (made ${header.createdAt}, schema ${header.schema}): ${restored.tables} tables, ${restored.rows.toLocaleString('en-US')} rows`);
    if (!header.secretKey && !sealingKeyConfigured()) out('The backup holds no sealing key (it was made with SECRET_KEY): set the same SECRET_KEY before starting, or TOTP and DKIM secrets cannot be opened.');
    return 0;
  });
}

/** One status line on stderr, rewritten in place on a terminal, else printed every few seconds. */
function statusLine(): { update(text: string): void; done(): void } {
  const tty = process.stderr.isTTY;
  let last = 0;
  let pending = '';
  return {
    update(text) {
      pending = text;
      if (tty) process.stderr.write(`\r${text}\x1b[K`);
      else if (Date.now() - last > 5_000) {
        last = Date.now();
        process.stderr.write(`${text}\n`);
      }
    },
    done() {
      if (tty) process.stderr.write('\n');
      else if (pending) process.stderr.write(`${pending}\n`);
    },
  };
}

/**
 * `export <address> <file>`: written as it goes, with `<file>.progress` recording how far it got
 * (the last folder and UID, and the bytes written then); `--resume` cuts the file back to that
 * point and continues. The progress file goes when the export is complete.
 */
async function exportCommand(address: string, file: string, mailbox: string | undefined, resume: boolean, out: Out): Promise<number> {
  const progressFile = `${file}.progress`;
  let after: ExportCursor | undefined;
  let bytes = 0;
  if (resume) {
    if (!fs.existsSync(progressFile)) throw new UsageError(`nothing to resume: ${progressFile} does not exist`);
    const saved = JSON.parse(fs.readFileSync(progressFile, 'utf8')) as { address: string; mailbox?: string; cursor: ExportCursor | null; bytes: number };
    if (saved.address !== address || saved.mailbox !== mailbox) throw new UsageError(`${progressFile} is for another export (${saved.address}${saved.mailbox ? ` --mailbox ${saved.mailbox}` : ''})`);
    after = saved.cursor ?? undefined;
    bytes = saved.bytes;
    fs.truncateSync(file, bytes);
  } else if (fs.existsSync(file)) {
    throw new UsageError(`${file} exists: remove it first${fs.existsSync(progressFile) ? ', or pass --resume to continue the interrupted export' : ''}`);
  }
  return withStore(async (db, _config, secrets) => {
    const user = await createAccountsService({ db, secrets }).requireUser(address);
    const output = fs.createWriteStream(file, { flags: resume ? 'a' : 'wx', mode: 0o600 });
    const status = statusLine();
    let count = 0;
    const record = (cursor: ExportCursor | null) => fs.writeFileSync(progressFile, JSON.stringify({ address, mailbox, cursor, bytes }));
    try {
      record(after ?? null);
      const result = await exportMailboxes(db, user.id, {
        mailbox,
        after,
        write: async (entry, cursor) => {
          await new Promise<void>((resolve, reject) => output.write(entry, (err) => (err ? reject(err) : resolve())));
          bytes += entry.length;
          count += 1;
          if (count % 50 === 0) record(cursor);
          status.update(`exported ${count.toLocaleString('en-US')} messages, ${megabytes(bytes)}`);
        },
      });
      await new Promise<void>((resolve, reject) => output.end((err?: Error | null) => (err ? reject(err) : resolve())));
      fs.rmSync(progressFile, { force: true });
      status.done();
      out(`exported ${count} messages${resume ? ' more' : ''} from ${result.folders} folder(s) of ${user.address} to ${file}`);
      return 0;
    } catch (err) {
      output.destroy();
      status.done();
      throw err instanceof ExportError ? new UsageError(err.message) : err;
    }
  });
}

/** `import <address> <file or Maildir>`: live clients hear of the new mail when Redis is configured (REDIS_URL or REDIS_SENTINELS); else at their next sync. */
async function importCommand(address: string, source: string, mailbox: string | undefined, out: Out): Promise<number> {
  if (!fs.existsSync(source)) throw new UsageError(`${source} does not exist`);
  const maildir = fs.statSync(source).isDirectory();
  if (maildir && !(await isMaildir(source))) throw new UsageError(`${source} is a folder but not a Maildir (it has no cur/ folder)`);
  return withStore(async (db, config, secrets) => {
    const user = await createAccountsService({ db, secrets }).requireUser(address);
    const redisTarget = configuredRedisTarget(config);
    const redis = redisTarget ? createRedis(redisTarget, { lazyConnect: true, maxRetriesPerRequest: 1 }) : null;
    const events = redis ? createRedisEventPublisher(redis) : { publish: async () => undefined };
    const status = statusLine();
    try {
      const items: AsyncIterable<ImportItem> = maildir ? readMaildir(source) : mboxImportItems(fs.createReadStream(source));
      const result = await importMessages({ db, events }, user.id, items, {
        mailbox,
        onProgress: (p) => status.update(`read ${p.read.toLocaleString('en-US')} messages: ${p.imported.toLocaleString('en-US')} imported, ${p.skipped.toLocaleString('en-US')} already there`),
      });
      status.done();
      out(`imported ${result.imported} messages into ${user.address} (${result.skipped} already there, ${result.read} read)`);
      return 0;
    } catch (err) {
      status.done();
      throw err;
    } finally {
      redis?.disconnect();
    }
  });
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

function trustPolicyChange(dmarcReject: string | undefined, ownDomainSpoofing: string | undefined, greylisting: string | undefined): Partial<DomainTrustPolicy> {
  const change: Partial<DomainTrustPolicy> = {};
  if (dmarcReject !== undefined) {
    if (dmarcReject !== 'enforce' && dmarcReject !== 'quarantine' && dmarcReject !== 'ignore') throw new UsageError('--dmarc-reject is enforce, quarantine or ignore');
    change.dmarcReject = dmarcReject;
  }
  if (ownDomainSpoofing !== undefined) {
    if (ownDomainSpoofing !== 'reject' && ownDomainSpoofing !== 'quarantine' && ownDomainSpoofing !== 'ignore') throw new UsageError('--own-domain-spoofing is reject, quarantine or ignore');
    change.ownDomainSpoofing = ownDomainSpoofing;
  }
  if (greylisting !== undefined) {
    if (greylisting !== 'on' && greylisting !== 'off') throw new UsageError('--greylisting is on or off');
    change.greylisting = greylisting;
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
      greylisting: { type: 'string' },
      force: { type: 'boolean', default: false },
      resume: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      'no-backup': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [area, action, ...args] = positionals;
  if (values.help || !area) {
    out(USAGE);
    return values.help ? 0 : 2;
  }
  // `dns <domain>`, `backup <file>` and `restore <file>` take their argument where the others have an action.
  if (area === 'backup') return backupCommand(need(action, '<file>'), out);
  if (area === 'migrate') {
    if (action) throw new UsageError('usage: mailyard migrate [--dry-run] [--no-backup]');
    return migrateCommand({ dryRun: values['dry-run'], backup: !values['no-backup'] }, out);
  }
  // --mailbox defaults to INBOX for `message list`; export and import act on every folder unless it is given.
  const mailboxGiven = argv.some((a) => a === '--mailbox' || a.startsWith('--mailbox='));
  if (area === 'export') return exportCommand(need(action, '<address>'), need(args[0], '<file.mbox>'), mailboxGiven ? values.mailbox : undefined, values.resume, out);
  if (area === 'import') return importCommand(need(action, '<address>'), need(args[0], '<file.mbox or Maildir>'), mailboxGiven ? values.mailbox : undefined, out);
  if (area === 'restore') return restoreCommand(need(action, '<file>'), values.force, out);
  const key = area === 'dns' ? 'dns' : `${area} ${action ?? ''}`.trim();

  return withStore(async (db, config, secrets) => {
    const accounts = createAccountsService({ db, secrets });
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
        const change = trustPolicyChange(values['dmarc-reject'], values['own-domain-spoofing'], values.greylisting);
        const repo = createDomainRepository(db);
        const policy = Object.keys(change).length > 0 ? await repo.updateTrustPolicy(domain.id, change) : (await repo.trustPolicies([domain.name])).get(domain.name);
        out(`${domain.name}: dmarc-reject ${policy!.dmarcReject}, own-domain-spoofing ${policy!.ownDomainSpoofing}, greylisting ${policy!.greylisting}`);
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
        const key = await rotateDkimKey({ db, secrets }, domain.name);
        out(`new DKIM key for ${domain.name}, selector ${key.selector}; publish:`);
        out(`${key.selector}._domainkey.${domain.name}  TXT  ${dkimTxtRecord(key.publicKeyB64)}`);
        return 0;
      }
      case 'dkim seal': {
        const sealed = await sealLegacyDkimKeys({ db, secrets });
        out(sealed === 0 ? 'every DKIM private key is sealed already' : `sealed ${sealed} DKIM private key(s)`);
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
    } else if (err instanceof AppError || err instanceof ConfigError || err instanceof BackupError) {
      process.stderr.write(`mailyard: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`mailyard: unexpected error: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
