import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDb, migrateToLatest } from '../../core/src/db/index.js';
import { startLocalPostgres, startLocalRedis } from '../../core/src/local/index.js';

/**
 * One ephemeral PostgreSQL cluster and one Redis for the whole run, on random loopback ports.
 * A template database is migrated once; each test file clones its own database from it.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
    redisUrl: string;
    testDataDir: string;
  }
}

export const TEMPLATE_DB = 'mailyard_template';

export default async function setup(project: TestProject) {
  // Under the system temp folder: as root, PostgreSQL runs as the postgres user, which must be
  // able to reach its data (a checkout may sit in a private 0700 folder).
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-test-'));
  fs.chmodSync(dataDir, 0o755);

  const postgres = await startLocalPostgres({ dataDir, unsafeFastMode: true });
  const redis = await startLocalRedis({ dataDir, persistent: false, databases: 1000 });
  const adminUrl = postgres.url.replace(/\/mailyard$/, '/postgres');

  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  await admin.end();
  const { db } = createDb({ connectionString: adminUrl.replace(/\/postgres$/, `/${TEMPLATE_DB}`), max: 1 });
  await migrateToLatest(db);
  await db.destroy();

  project.provide('pgAdminUrl', adminUrl);
  project.provide('pgTemplate', TEMPLATE_DB);
  project.provide('redisUrl', redis.url);
  project.provide('testDataDir', dataDir);

  return async () => {
    await redis.stop();
    await postgres.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
}
