import type { Db } from '../db/client.js';
import type { EventPublisher } from '../events/publisher.js';
import type { Logger } from '../log/logger.js';
import { ingestMany, publishMailboxEvents, type IngestInput } from '../mail/mailbox-writer/index.js';
import { summarizeMessage } from '../mail/parse.js';
import { resolveRecipients, type RecipientVerdict } from '../mail/recipient-routing.js';
import { applySenderRule } from '../mail/spam/score.js';
import { createSenderRuleRepository, type SenderRuleKind } from '../repositories/sender-rule.repository.js';
import { createSpoolRepository, type SpoolDoneMark, type SpoolRow } from '../repositories/spool.repository.js';

/**
 * Filing the spool: an accepted message (a spool row) becomes one message in the INBOX of each
 * local recipient (in Junk when the MX's verdict says so: a DMARC quarantine, the spam score), with
 * the MX's authentication results and spam decision, and the row is marked done IN THE SAME
 * TRANSACTION (`commitSpoolFilings`): a row is never done without its messages, nor filed and still
 * pending. Each user's allow and block lists of senders override the decision for them. The inbound
 * worker runs this for each job, and passes batched versions of the reads and of the commit so that
 * the jobs it runs together share one statement for each (see its `buildInboundWorker`).
 */

/** What one spool row's filing writes: a message per recipient user, and the row's done mark. */
export interface SpoolFiling {
  inputs: IngestInput[];
  done: SpoolDoneMark;
}

export interface SpoolFilerDeps {
  db: Db;
  events: EventPublisher;
  log: Logger;
  /** How a spool row and its bytes are read (an object of its own: filing lets go of its bytes); the worker loads its concurrent jobs' rows in one query. Default: one query. */
  load?: (spoolId: number) => Promise<SpooledMessage | null>;
  /** How a row's recipients are resolved (verdicts in their order); the worker resolves its concurrent jobs' recipients in one query. Default: resolveRecipients. */
  resolve?: (rcpts: readonly string[]) => Promise<RecipientVerdict[]>;
  /** How the users' sender lists are read; the worker reads its concurrent jobs' in one query. Default: one query. */
  decide?: (userIds: readonly number[], sender: string) => Promise<Map<number, SenderRuleKind>>;
  /** How a filing is committed; the worker's batcher commits the filings that arrive together in one transaction. Default: alone. */
  commit?: (filing: SpoolFiling) => Promise<void>;
}

/** A spool row with its bytes (null when the blob is missing). */
export type SpooledMessage = SpoolRow & { raw: Buffer | null };

export interface SpoolFilingOutcome {
  status: 'filed' | 'already-done' | 'missing';
  filed: number;
  unresolved: string[];
}

/**
 * Commits the filings of several spool rows in ONE transaction: their messages (any number of
 * users, ingestMany) and, last in the same transaction, one UPDATE marking the rows done. Rows
 * with no local recipient left have nothing to file: they are only marked done.
 */
export async function commitSpoolFilings(deps: Pick<SpoolFilerDeps, 'db' | 'events' | 'log'>, filings: readonly SpoolFiling[]): Promise<void> {
  const inputs = filings.flatMap((f) => f.inputs);
  const done = filings.map((f) => f.done);
  if (inputs.length === 0) return createSpoolRepository(deps.db).markDoneMany(done);
  await ingestMany(deps, inputs, (tx) => createSpoolRepository(tx).markDoneMany(done));
}

/**
 * Files one accepted message (a spool row) into the INBOX of each recipient user. Safe to run
 * any number of times: ingest is idempotent per (spool row, user), and a row already marked
 * done is not filed again (its message.new are announced again). Throws on infrastructure errors so the queue retries.
 *
 * `onParsed` is called once the row's bytes are let go (parsed: what is committed holds the summary
 * and the blob's hash), or when it ends if they never were: a caller can bound the messages whose
 * bytes are in memory apart from those waiting for their lookups and commit (the inbound worker
 * does: its group commits grow with the second).
 */
export async function fileSpooled(deps: SpoolFilerDeps, spoolId: number, attempt = 1, onParsed?: () => void): Promise<SpoolFilingOutcome> {
  let told = false;
  const parsed = () => {
    if (!told) onParsed?.();
    told = true;
  };
  try {
    // A filing exists only for a parsed row (told already); a row without one (missing, already
    // done) is told in `finally`, with nothing committed before.
    const { outcome, filing } = await prepare(deps, spoolId, attempt, parsed);
    if (filing) await (deps.commit ? deps.commit(filing) : commitSpoolFilings(deps, [filing]));
    return outcome;
  } finally {
    parsed();
  }
}

/** A spool row read and parsed: what committing `filing` (null: nothing to commit) will have done. */
interface PreparedFiling {
  outcome: SpoolFilingOutcome;
  filing: SpoolFiling | null;
}

/** The first half of `fileSpooled`: reads the row and its bytes, parses them (then `onParsed`), resolves the recipients and their sender lists. */
async function prepare(deps: SpoolFilerDeps, spoolId: number, attempt: number, onParsed: () => void): Promise<PreparedFiling> {
  const row = deps.load ? await deps.load(spoolId) : ((await createSpoolRepository(deps.db).getManyWithBlobs([spoolId])).get(spoolId) ?? null);
  if (!row) return { outcome: { status: 'missing', filed: 0, unresolved: [] }, filing: null };
  if (row.status !== 'pending') {
    // The job came back for a row already filed: the run that filed it may have died between its
    // commit and its publish, so its message.new are announced again (consumers take a repeat as a no-op).
    if (row.status === 'done') {
      const filed = await createSpoolRepository(deps.db).filedMessages(spoolId);
      await publishMailboxEvents(deps, filed.map(({ userId, ...m }) => ({ userId, event: { type: 'message.new' as const, ...m } })));
    }
    return { outcome: { status: 'already-done', filed: 0, unresolved: [] }, filing: null };
  }

  if (!row.raw) throw new Error(`spool ${spoolId}: blob missing`);
  const size = row.raw.length;
  const summary = await summarizeMessage(row.raw);
  row.raw = null; // nothing below needs the bytes: they go before the lookups and the commit
  onParsed();

  // Several RCPTs may reach one user (an alias and the address itself): one copy each.
  const verdicts = await (deps.resolve ? deps.resolve(row.rcptTo) : resolveRecipients(deps.db, row.rcptTo));
  const userIds = new Set<number>();
  const unresolved: string[] = [];
  row.rcptTo.forEach((rcpt, i) => {
    const verdict = verdicts[i]!;
    if (verdict.kind === 'local') userIds.add(verdict.userId);
    else unresolved.push(rcpt);
  });

  // The user's sender lists override the filter's verdict; mail the filter did not judge is filed as it came.
  const sender = summary.from[0]?.address || row.mailFrom;
  const decide = deps.decide ?? ((users: readonly number[], from: string) => createSenderRuleRepository(deps.db).decide(users, from));
  const rules = row.filter && userIds.size > 0 ? await decide([...userIds], sender) : new Map<number, SenderRuleKind>();
  const decisionFor = (userId: number) => (row.filter ? applySenderRule(row.filter, rules.get(userId), sender.toLowerCase()) : null);

  const inputs = [...userIds].map((userId): IngestInput => {
    const filter = decisionFor(userId);
    const verdict = filter?.verdict ?? row.verdict;
    return {
      userId,
      mailbox: { specialUse: verdict === 'junk' ? '\\Junk' : '\\Inbox' },
      content: { blobHash: row.blobHash, size },
      summary,
      internalDate: row.receivedAt,
      traceHeaders: row.traceHeaders,
      spoolId,
      authentication: row.authentication,
      filter,
    };
  });
  // A recipient removed between RCPT and now: recorded on the row (bounces come with the sending issue).
  const done = { id: spoolId, note: unresolved.length > 0 ? `no longer local: ${unresolved.join(', ')}` : null, attempts: attempt };
  return { outcome: { status: 'filed', filed: userIds.size, unresolved }, filing: { inputs, done } };
}
