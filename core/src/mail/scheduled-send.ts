import { isDeepStrictEqual } from 'node:util';
import { AppError } from '../errors.js';
import { createScheduledSendRepository, type ScheduledSendRow } from '../repositories/scheduled-send.repository.js';
import { parseRecipient, type DraftSender } from './drafts.js';
import { summarizeMessage } from './parse.js';
import { dispatch, prepareSend, recordContacts, routeRecipients, type DispatchDeps, type SendDeps, type SendInput, type SendResult } from './send.js';

/**
 * Undo send and scheduled send: the API holds what a user sends. `holdMessage` checks and builds
 * the message as it would be sent (recipients, limits, MIME) and stores it in `scheduled_sends`
 * with its send time: now plus the user's undo delay, or the time they chose. A delayed job wakes
 * the outbound worker then, which calls `sendHeld`: the same `dispatch` as every sent message,
 * guarded by a lock on the row, so a row is sent once however many workers and reconcile passes
 * race for it, and never once cancelled. Held mail lives in the store: a restart loses nothing.
 */

/** How far ahead a message may be scheduled. */
export const MAX_SCHEDULE_AHEAD_MS = 366 * 24 * 3600_000;

export interface HoldDeps extends SendDeps {
  scheduled: { enqueue(scheduledId: number, delayMs: number): Promise<void> };
}

export interface HeldResult {
  row: ScheduledSendRow;
  /** Set when the user's undo delay is 0: sent in the same call. */
  sent: SendResult | null;
  /** The row was already held under this Idempotency-Key: nothing new was stored or sent. */
  replayed: boolean;
}

/**
 * Holds a message until `sendAt` (scheduled send) or for the user's undo delay. 400
 * 'send.schedule_invalid' for a time in the past or more than a year ahead; every check of
 * `prepareSend` applies now, not when it goes. With an `idempotencyKey` the user already sent
 * (a retry after no answer or a 5xx: the first request's row may have been committed although
 * its answer was lost), nothing new is stored, checked or counted: the row held then is answered
 * (`replayed`); 422 'send.idempotency_key_reused' if that row holds a different message.
 */
export async function holdMessage(deps: HoldDeps, from: DraftSender, input: SendInput, sendAt?: Date, idempotencyKey?: string): Promise<HeldResult> {
  const repo = createScheduledSendRepository(deps.db);
  if (idempotencyKey !== undefined) {
    const earlier = await repo.byIdempotencyKey(from.userId, idempotencyKey);
    if (earlier) return replay(deps, earlier, input);
  }
  const now = Date.now();
  if (sendAt && (sendAt.getTime() < now - 60_000 || sendAt.getTime() > now + MAX_SCHEDULE_AHEAD_MS)) {
    throw new AppError('send.schedule_invalid', 'choose a send time from now to a year ahead', 400);
  }
  const holdSeconds = sendAt ? 0 : await repo.undoSendSeconds(from.userId);
  const prepared = await prepareSend(deps, from, input, sendAt ?? new Date(now + holdSeconds * 1000));
  const row = await repo.insert({
    userId: from.userId,
    raw: prepared.raw,
    input: { ...input },
    recipients: prepared.recipients,
    mailFrom: prepared.mailFrom,
    dkimDomain: prepared.dkimDomain,
    draftId: input.draftId ?? null,
    sendAt: sendAt ?? { holdSeconds },
    idempotencyKey: idempotencyKey ?? null,
  });
  if (!row) {
    // The same key in a request that ran alongside this one, and stored its row first.
    const earlier = await repo.byIdempotencyKey(from.userId, idempotencyKey!);
    if (!earlier) throw new Error(`send with idempotency key ${JSON.stringify(idempotencyKey)}: the row that took the key is gone`);
    return replay(deps, earlier, input);
  }
  if (!sendAt && holdSeconds === 0) {
    try {
      return { row, sent: await sendHeld(deps, row.id), replayed: false };
    } catch (err) {
      if (err instanceof AppError) throw err;
      // The row is stored, so the message goes (or went: a commit whose answer was lost) whatever
      // failed here: the outbound worker's reconcile pass sends it while it is still pending.
      // Answer "held", not an error a client would retry into a second copy.
      deps.log?.warn({ event: 'send.immediate_failed', scheduledId: row.id, err: (err as Error).message });
      return { row, sent: null, replayed: false };
    }
  }
  await wake(deps, row);
  return { row, sent: null, replayed: false };
}

/** Enqueues the job that sends a pending row when it is due (the reconcile pass finds it if Redis is away). */
async function wake(deps: HoldDeps, row: ScheduledSendRow): Promise<void> {
  try {
    await deps.scheduled.enqueue(row.id, Math.max(0, row.sendAt.getTime() - Date.now()));
  } catch (err) {
    // Held in the store either way: the outbound worker's reconcile pass sends it when due.
    deps.log?.warn({ event: 'send.schedule_enqueue_failed', scheduledId: row.id, err: (err as Error).message });
  }
}

/**
 * Answers a send already held under the request's Idempotency-Key. The message must be the same
 * (its fields as composed; the draft it was saved as may have been saved again meanwhile). A row
 * still pending gets its job again (the job id is the row's, so a job already queued is not
 * doubled): the request that stored it may have failed before it sent or enqueued anything.
 */
async function replay(deps: HoldDeps, row: ScheduledSendRow, input: SendInput): Promise<HeldResult> {
  const fields = ({ draftId: _draftId, ...rest }: Record<string, unknown>) => JSON.parse(JSON.stringify(rest)) as unknown;
  if (!isDeepStrictEqual(fields(row.input), fields({ ...input }))) {
    throw new AppError('send.idempotency_key_reused', 'this Idempotency-Key was sent with a different message: use a new key for each message', 422);
  }
  if (row.status === 'pending') await wake(deps, row);
  return { row, sent: null, replayed: true };
}

/** Stops a held message (pending → cancelled) and returns it; 404 if not the user's, 409 once it went. */
export async function cancelHeld(deps: Pick<DispatchDeps, 'db'>, userId: number, id: number): Promise<ScheduledSendRow> {
  const repo = createScheduledSendRepository(deps.db);
  const cancelled = await repo.cancel(userId, id);
  if (cancelled) return cancelled;
  const row = await repo.get(userId, id);
  if (!row) throw new AppError('scheduled.not_found', 'no such scheduled message', 404);
  const what = { sent: 'it has been sent already', cancelled: 'it was cancelled already', failed: 'it could not be sent', pending: '' }[row.status];
  throw new AppError('scheduled.not_pending', `this message can no longer be cancelled: ${what}`, 409);
}

/** Thrown (so the job is retried) when a job runs before its row is due by the database's clock. */
export class NotDueError extends Error {
  constructor(id: number) {
    super(`scheduled message ${id} is not due yet`);
  }
}

/**
 * Sends a held message once it is due: the row is re-read and locked in dispatch's transaction
 * and marked sent in it. Returns null when it is not pending (sent, cancelled, failed). A
 * recipient that no longer exists marks it failed with the reason; a store failure throws (the
 * job is retried, then the reconciler takes over).
 */
export async function sendHeld(deps: DispatchDeps, id: number): Promise<SendResult | null> {
  const repo = createScheduledSendRepository(deps.db);
  const row = await repo.getPending(id);
  if (!row) return null;
  let routing;
  try {
    routing = await routeRecipients(deps.db, row.recipients, 'send.invalid_address');
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    if (await repo.markFailed(id, err.message)) deps.log?.warn({ event: 'send.scheduled_failed', scheduledId: id, code: err.code, err: err.message });
    return null;
  }
  const raw = await repo.loadBytes(row);
  if (!raw) throw new Error(`scheduled message ${id}: its content is missing`);
  let notDue = false;
  const result = await dispatch(
    deps,
    { sender: { userId: row.userId, address: row.mailFrom }, raw, summary: await summarizeMessage(raw), mailFrom: row.mailFrom, routing, dkimDomain: row.dkimDomain },
    row.draftId ?? undefined,
    {
      async claim(tx) {
        const locked = await createScheduledSendRepository(tx).lockPending(id);
        notDue = locked !== null && !locked.due;
        return locked?.due ?? false;
      },
      async done(tx, sent) {
        await createScheduledSendRepository(tx).markSent(id, sent.messageId, sent.outboundId);
      },
    },
  );
  if (notDue) throw new NotDueError(id);
  if (result) {
    const typed = (['to', 'cc', 'bcc'] as const).flatMap((field) => ((row.input[field] as string[] | undefined) ?? []).map((r) => parseRecipient(field, r)));
    await recordContacts(deps, row.userId, typed);
  }
  return result;
}
