import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { AppError } from '../errors.js';
import * as m0001 from './migrations/0001_initial.js';
import * as m0002 from './migrations/0002_sessions_audit.js';
import * as m0003 from './migrations/0003_moves_contacts.js';
import * as m0004 from './migrations/0004_thread_keys.js';
import * as m0005 from './migrations/0005_uploads.js';
import * as m0006 from './migrations/0006_dkim_keys.js';
import * as m0007 from './migrations/0007_user_date_index.js';
import * as m0008 from './migrations/0008_outbound.js';
import * as m0009 from './migrations/0009_search_indexes.js';
import * as m0010 from './migrations/0010_scheduled_sends.js';
import * as m0011 from './migrations/0011_alias_allow_send.js';
import * as m0012 from './migrations/0012_imap_state.js';
import * as m0013 from './migrations/0013_inbound_auth.js';
import * as m0014 from './migrations/0014_quota_usage.js';
import * as m0015 from './migrations/0015_delivery_lease_token.js';
import * as m0016 from './migrations/0016_spam_filter.js';
import * as m0018 from './migrations/0018_storage_reclaim.js';
import * as m0019 from './migrations/0019_user_signature.js';
import * as m0020 from './migrations/0020_outbound_retention.js';
import * as m0021 from './migrations/0021_spool_fillfactor.js';
import * as m0022 from './migrations/0022_messages_fillfactor.js';
import * as m0023 from './migrations/0023_messages_user_mailbox_statistics.js';
import * as m0024 from './migrations/0024_messages_internal_date_zone.js';
import * as m0025 from './migrations/0025_blob_compression.js';
import * as m0026 from './migrations/0026_search_index_stage.js';
import * as m0027 from './migrations/0027_send_idempotency_key.js';
import * as m0028 from './migrations/0028_user_keys_by_trigger.js';

/** Every migration, in order. Add a new file as NNNN_name.ts and list it here. */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_sessions_audit': m0002,
  '0003_moves_contacts': m0003,
  '0004_thread_keys': m0004,
  '0005_uploads': m0005,
  '0006_dkim_keys': m0006,
  '0007_user_date_index': m0007,
  '0008_outbound': m0008,
  '0009_search_indexes': m0009,
  '0010_scheduled_sends': m0010,
  '0011_alias_allow_send': m0011,
  '0012_imap_state': m0012,
  '0013_inbound_auth': m0013,
  '0014_quota_usage': m0014,
  '0015_delivery_lease_token': m0015,
  '0016_spam_filter': m0016,
  // 0017 was never used (skipped while 0018 was written); a new migration takes the next number after the highest.
  '0018_storage_reclaim': m0018,
  '0019_user_signature': m0019,
  '0020_outbound_retention': m0020,
  '0021_spool_fillfactor': m0021,
  '0022_messages_fillfactor': m0022,
  '0023_messages_user_mailbox_statistics': m0023,
  '0024_messages_internal_date_zone': m0024,
  '0025_blob_compression': m0025,
  '0026_search_index_stage': m0026,
  '0027_send_idempotency_key': m0027,
  '0028_user_keys_by_trigger': m0028,
};

/** What each migration changes, one line, for `mailyard migrate --dry-run`. Describe a new migration here too. */
export const migrationDescriptions: Record<string, string> = {
  '0001_initial': 'the foundation schema: domains, users, aliases, mailboxes, messages, blobs, the spool, the change feed',
  '0002_sessions_audit': 'web sessions, app passwords, TOTP, domain administrators and the audit log',
  '0003_moves_contacts': 'when a message entered its mailbox (trash purge, "moved" ordering), and per-user contacts',
  '0004_thread_keys': 'threading by Message-ID through one indexed lookup table',
  '0005_uploads': 'uploads: files a user sends ahead of composing (draft attachments)',
  '0006_dkim_keys': 'DKIM signing keys per domain, with rotation',
  '0007_user_date_index': "an index for newest-first across all of a user's folders",
  '0008_outbound': 'outbound mail: sent messages, per-recipient deliveries and their event log',
  '0009_search_indexes': 'indexes for the subject:, from: and to: search operators (pg_trgm)',
  '0010_scheduled_sends': 'undo send and scheduled send',
  '0011_alias_allow_send': 'aliases grant receiving; allow_send says whether their target may send as them',
  '0012_imap_state': 'what IMAP keeps beyond the messages: folder subscriptions and \\Recent',
  '0013_inbound_auth': 'inbound mail authentication results (SPF, DKIM, DMARC, ARC) and per-domain trust policies',
  '0014_quota_usage': "quota usage: users.used_bytes, computed once from the messages already stored",
  '0015_delivery_lease_token': 'fencing tokens for outbound delivery leases',
  '0016_spam_filter': "spam filtering: the filter's decision per message, and each user's sender allow and block lists",
  '0018_storage_reclaim': 'storage reclaim: blob_hash indexes, a purge index on the spool, messages.spool_id kept as provenance',
  '0019_user_signature': "the user's plain-text signature for the webmail's compose",
  '0020_outbound_retention': 'outbound retention: a settled outbound message may let go of its bytes (blob_hash NULL); purge indexes',
  '0021_spool_fillfactor': 'spool pages keep half their room free, so marking a row done writes only what changed to the WAL',
  '0022_messages_fillfactor': 'messages pages keep a fifth of their room free, so a flag change can be a HOT update (no new index entries)',
  '0023_messages_user_mailbox_statistics': 'the planner learns that a message\'s mailbox names its owner, so reads of one mailbox are planned for its real size',
  '0024_messages_internal_date_zone': 'messages keep the zone their IMAP INTERNALDATE was given in, for FETCH and date SEARCH',
  '0025_blob_compression': 'message bytes are compressed with lz4 where PostgreSQL has it, and stored as they came otherwise (no more pglz at every insert)',
  '0026_search_index_stage': 'the search vector moves to its own table, filled just after filing (mail is visible first, searchable a moment later); a search indexes its user\'s pending mail first',
  '0027_send_idempotency_key': 'a send may carry an Idempotency-Key: sent again with the same key (no answer, a 5xx), it answers the message already held instead of sending a second copy',
  '0028_user_keys_by_trigger': "filing's rows (messages, change log, thread keys, search queue, spool filings) no longer check their user's row per row inserted; a trigger deletes them with the user",
};

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

/** Runs every pending migration forward; safe to call from several processes at once (kysely locks). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the migrator works on any schema
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  await refuseNewerDatabase(db);
  const migrator = new Migrator({ db, provider: new StaticProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** What `migrateToLatest` would do, found without changing anything. */
export interface MigrationPlan {
  /** The last migration applied; null for a fresh database. */
  current: string | null;
  /** The last migration this version knows. */
  target: string;
  /** The migrations not applied yet, in the order they would run. */
  pending: Array<{ name: string; description: string }>;
}

/** The pending migrations (`mailyard migrate --dry-run`); refuses a database newer than this code as `migrateToLatest` does. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the migrator works on any schema
export async function planMigrations(db: Kysely<any>): Promise<MigrationPlan> {
  const applied = await refuseNewerDatabase(db);
  const known = Object.keys(migrations).sort();
  const done = new Set(applied);
  return {
    current: applied.at(-1) ?? null,
    target: known.at(-1)!,
    pending: known.filter((name) => !done.has(name)).map((name) => ({ name, description: migrationDescriptions[name] ?? '(no description)' })),
  };
}

/** The migrations applied to the database, in order (none for a fresh database); reads only. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the migrator works on any schema
async function appliedMigrations(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db).catch((err: { code?: string }) => {
    if (err.code === '42P01') return { rows: [] }; // a fresh database: no migration has run yet
    throw err;
  });
  return rows.map((r) => r.name).sort();
}

/**
 * A service never runs on a database a newer version has migrated: its code would not know the
 * schema. Returns the migrations applied.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the migrator works on any schema
async function refuseNewerDatabase(db: Kysely<any>): Promise<string[]> {
  const applied = await appliedMigrations(db);
  const unknown = applied.filter((name) => !(name in migrations));
  if (unknown.length > 0) {
    throw new AppError('db.schema_newer', `the database was upgraded by a newer Mailyard (migration ${unknown.at(-1)} is unknown to this version): run that version or a newer one, or restore a backup made with this one`, 500);
  }
  return applied;
}
