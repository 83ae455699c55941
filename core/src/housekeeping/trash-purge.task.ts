import { purgeTrash, TRASH_RETENTION_MS, type MailboxWriterDeps } from '../mail/mailbox-writer/index.js';
import type { HousekeepingTask } from '../queue/housekeeping.js';

/** Deletes what has been in a Trash for 30 days, hourly. Needs only the store (any service may run it). */
export function trashPurgeTask(deps: MailboxWriterDeps, everyMs = 3_600_000): HousekeepingTask {
  return {
    name: 'trash-purge',
    everyMs,
    run: () => purgeTrash(deps, new Date(Date.now() - TRASH_RETENTION_MS)),
  };
}
