import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
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
  '0018_storage_reclaim': m0018,
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

/** A service never runs on a database a newer version has migrated: its code would not know the schema. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the migrator works on any schema
async function refuseNewerDatabase(db: Kysely<any>): Promise<void> {
  const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db).catch((err: { code?: string }) => {
    if (err.code === '42P01') return { rows: [] }; // a fresh database: no migration has run yet
    throw err;
  });
  const unknown = rows.map((r) => r.name).filter((name) => !(name in migrations)).sort();
  if (unknown.length > 0) {
    throw new Error(`the database was upgraded by a newer Mailyard (migration ${unknown.at(-1)} is unknown to this version): run that version or a newer one, or restore a backup made with this one`);
  }
}
