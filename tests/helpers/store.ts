import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createDb, type Db } from '../../core/src/db/index.js';

export interface TestStore {
  db: Db;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database cloned from the run's template (fast: a file copy on the server). */
export async function createTestStore(): Promise<TestStore> {
  const adminUrl = inject('pgAdminUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name} TEMPLATE ${inject('pgTemplate')}`);
  await admin.end();
  const url = adminUrl.replace(/\/postgres$/, `/${name}`);
  const { db } = createDb({ connectionString: url, max: 20 });
  return {
    db,
    url,
    async drop() {
      await db.destroy();
      const again = new pg.Client({ connectionString: adminUrl });
      await again.connect();
      await again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await again.end();
    },
  };
}

/**
 * `db` with every statement counted (every query, raw SQL included, goes through a Kysely plugin):
 * for tests that prove how many round trips a write costs. `reset()` starts the count again.
 */
export function countingDb(db: Db): { db: Db; count: () => number; reset: () => void } {
  let n = 0;
  const counted = db.withPlugin({
    transformQuery: (args) => {
      n++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  });
  return { db: counted, count: () => n, reset: () => (n = 0) };
}
