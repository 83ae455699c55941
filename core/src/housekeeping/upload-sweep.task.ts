import type { Db } from '../db/client.js';
import { createUploadRepository } from '../repositories/upload.repository.js';
import type { HousekeepingTask } from '../queue/housekeeping.js';

/** An upload not used within a day is deleted. */
export const UPLOAD_MAX_AGE_MS = 24 * 3_600_000;

/**
 * Deletes uploads older than a day (rows and files), hourly. Uploads are staging for compose:
 * once a draft or a sent message is built, its bytes live in the message. Runs only where the
 * upload files are: the backend, with its DATA_DIR.
 */
export function uploadSweepTask(deps: { db: Db; dataDir: string }, everyMs = 3_600_000): HousekeepingTask {
  const uploads = createUploadRepository(deps.db, deps.dataDir);
  return {
    name: 'upload-sweep',
    everyMs,
    run: async () => ({ removed: await uploads.sweep(new Date(Date.now() - UPLOAD_MAX_AGE_MS)) }),
  };
}
