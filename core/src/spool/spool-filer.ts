import type { Db } from '../db/client.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Logger } from '../log/logger.js';
import { ingestMessage, type IngestInput, type IngestResult } from '../mail/mailbox-writer/index.js';
import { summarizeMessage } from '../mail/parse.js';
import { resolveRecipient } from '../mail/recipient-routing.js';
import { createBlobRepository } from '../repositories/blob.repository.js';
import { createSpoolRepository } from '../repositories/spool.repository.js';

/**
 * Filing the spool: an accepted message (a spool row) becomes one message in the INBOX of each
 * local recipient (in Junk when the MX's verdict says so, e.g. a DMARC quarantine), with the MX's
 * authentication results, then the row is marked done. The inbound worker runs this for each job.
 */

export interface SpoolFilerDeps {
  db: Db;
  events: EventPublisher;
  log: Logger;
  /** How one message is filed; the worker passes its per-user batcher. Default: ingest alone. */
  file?: (input: IngestInput) => Promise<IngestResult>;
  /** How a spool row is marked done; the worker batches these. Default: one UPDATE. */
  markDone?: (row: { id: number; note: string | null; attempts: number }) => Promise<void>;
}

export interface SpoolFilingOutcome {
  status: 'filed' | 'already-done' | 'missing';
  filed: number;
  unresolved: string[];
}

/**
 * Files one accepted message (a spool row) into the INBOX of each recipient user. Safe to run
 * any number of times: ingest is idempotent per (spool row, user), and a row already marked
 * done is skipped. Throws on infrastructure errors so the queue retries.
 */
export async function fileSpooled(deps: SpoolFilerDeps, spoolId: number, attempt = 1): Promise<SpoolFilingOutcome> {
  const spool = createSpoolRepository(deps.db);
  const row = await spool.get(spoolId);
  if (!row) return { status: 'missing', filed: 0, unresolved: [] };
  if (row.status !== 'pending') return { status: 'already-done', filed: 0, unresolved: [] };

  const raw = await createBlobRepository(deps.db).get(row.blobHash);
  if (!raw) throw new Error(`spool ${spoolId}: blob missing`);
  const summary = await summarizeMessage(raw);

  // Several RCPTs may reach one user (an alias and the address itself): one copy each.
  const userIds = new Set<number>();
  const unresolved: string[] = [];
  for (const rcpt of row.rcptTo) {
    const verdict = await resolveRecipient(deps.db, rcpt);
    if (verdict.kind === 'local') userIds.add(verdict.userId);
    else unresolved.push(rcpt);
  }

  const file = deps.file ?? ((input: IngestInput) => ingestMessage({ db: deps.db, events: deps.events, log: deps.log }, input));
  // Each recipient's filing is independent: file them in parallel (each user has their own lock).
  await Promise.all(
    [...userIds].map((userId) =>
      file({
        userId,
        mailbox: { specialUse: row.verdict === 'junk' ? '\\Junk' : '\\Inbox' },
        content: { blobHash: row.blobHash, size: raw.length },
        summary,
        internalDate: row.receivedAt,
        traceHeaders: row.traceHeaders,
        spoolId,
        authentication: row.authentication,
      }),
    ),
  );
  // A recipient removed between RCPT and now: recorded on the row (bounces come with the sending issue).
  const done = { id: spoolId, note: unresolved.length > 0 ? `no longer local: ${unresolved.join(', ')}` : null, attempts: attempt };
  await (deps.markDone ? deps.markDone(done) : spool.markDone(done.id, done.note, done.attempts));
  return { status: 'filed', filed: userIds.size, unresolved };
}
