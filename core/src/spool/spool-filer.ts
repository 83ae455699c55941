import type { Db } from '../db/client.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Logger } from '../log/logger.js';
import { ingestMessage, type IngestInput, type IngestResult } from '../mail/mailbox-writer/index.js';
import { summarizeMessage } from '../mail/parse.js';
import { resolveRecipient, type RecipientVerdict } from '../mail/recipient-routing.js';
import { applySenderRule } from '../mail/spam/score.js';
import { createSenderRuleRepository, type SenderRuleKind } from '../repositories/sender-rule.repository.js';
import { createSpoolRepository, type SpoolRow } from '../repositories/spool.repository.js';

/**
 * Filing the spool: an accepted message (a spool row) becomes one message in the INBOX of each
 * local recipient (in Junk when the MX's verdict says so: a DMARC quarantine, the spam score), with
 * the MX's authentication results and spam decision, then the row is marked done. Each user's
 * allow and block lists of senders override the decision for them (one query for all the users of
 * a message). The inbound worker runs this for each job.
 */

export interface SpoolFilerDeps {
  db: Db;
  events: EventPublisher;
  log: Logger;
  /** How one message is filed; the worker passes its batcher (one transaction for the filings that arrive together). Default: ingest alone. */
  file?: (input: IngestInput) => Promise<IngestResult>;
  /** How a spool row is marked done; the worker batches these. Default: one UPDATE. */
  markDone?: (row: { id: number; note: string | null; attempts: number }) => Promise<void>;
  /** How a spool row and its bytes are read; the worker loads its concurrent jobs' rows in one query. Default: one query. */
  load?: (spoolId: number) => Promise<SpooledMessage | null>;
  /** How a recipient is resolved; the worker shares one lookup among the jobs waiting for it. Default: resolveRecipient. */
  resolve?: (rcpt: string) => Promise<RecipientVerdict>;
}

/** A spool row with its bytes (null when the blob is missing). */
export type SpooledMessage = SpoolRow & { raw: Buffer | null };

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
  const row = deps.load ? await deps.load(spoolId) : ((await spool.getManyWithBlobs([spoolId])).get(spoolId) ?? null);
  if (!row) return { status: 'missing', filed: 0, unresolved: [] };
  if (row.status !== 'pending') return { status: 'already-done', filed: 0, unresolved: [] };

  const raw = row.raw;
  if (!raw) throw new Error(`spool ${spoolId}: blob missing`);
  const summary = await summarizeMessage(raw);

  // Several RCPTs may reach one user (an alias and the address itself): one copy each.
  const userIds = new Set<number>();
  const unresolved: string[] = [];
  for (const rcpt of row.rcptTo) {
    const verdict = await (deps.resolve ? deps.resolve(rcpt) : resolveRecipient(deps.db, rcpt));
    if (verdict.kind === 'local') userIds.add(verdict.userId);
    else unresolved.push(rcpt);
  }

  // The user's sender lists override the filter's verdict; mail the filter did not judge is filed as it came.
  const sender = summary.from[0]?.address || row.mailFrom;
  const rules = row.filter && userIds.size > 0 ? await createSenderRuleRepository(deps.db).decide([...userIds], sender) : new Map<number, SenderRuleKind>();
  const decisionFor = (userId: number) => (row.filter ? applySenderRule(row.filter, rules.get(userId), sender.toLowerCase()) : null);

  const file = deps.file ?? ((input: IngestInput) => ingestMessage({ db: deps.db, events: deps.events, log: deps.log }, input));
  // Each recipient's filing is independent: file them in parallel (each user has their own lock).
  await Promise.all(
    [...userIds].map((userId) => {
      const filter = decisionFor(userId);
      const verdict = filter?.verdict ?? row.verdict;
      return file({
        userId,
        mailbox: { specialUse: verdict === 'junk' ? '\\Junk' : '\\Inbox' },
        content: { blobHash: row.blobHash, size: raw.length },
        summary,
        internalDate: row.receivedAt,
        traceHeaders: row.traceHeaders,
        spoolId,
        authentication: row.authentication,
        filter,
      });
    }),
  );
  // A recipient removed between RCPT and now: recorded on the row (bounces come with the sending issue).
  const done = { id: spoolId, note: unresolved.length > 0 ? `no longer local: ${unresolved.join(', ')}` : null, attempts: attempt };
  await (deps.markDone ? deps.markDone(done) : spool.markDone(done.id, done.note, done.attempts));
  return { status: 'filed', filed: userIds.size, unresolved };
}
