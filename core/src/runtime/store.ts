import { createDb, type Db } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import type { Logger } from '../log/logger.js';

/** Opens the store and runs pending migrations forward (each service does this at start-up). */
export async function openStore(databaseUrl: string, log: Logger, options: { poolSize?: number; applicationName?: string } = {}): Promise<{ db: Db; close(): Promise<void> }> {
  const { db } = createDb({ connectionString: databaseUrl, max: options.poolSize ?? 10, applicationName: options.applicationName, log });
  let applied: string[];
  try {
    applied = await migrateToLatest(db);
  } catch (err) {
    await db.destroy(); // the caller never gets the pool: close it here
    throw err;
  }
  if (applied.length > 0) log.info({ event: 'db.migrated', applied });
  return { db, close: () => db.destroy() };
}
