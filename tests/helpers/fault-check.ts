import { REMOTE_MAILBOX, type FaultStack } from './fault-stack.js';
import type { ApiBook, SmtpBook } from './fault-load.js';
import { eventually } from './services.js';

/**
 * The books of a fault run against what was stored: the database (messages by Subject, which
 * carries each message's unique id, per user and folder), the remote's Maildir, the spool and the
 * delivery queue. Waits (bounded) until nothing is pending, then counts.
 */

export interface FaultFigures {
  fault: string;
  /** From the first message to the last 250/202, and from then until everything was stored. */
  loadSeconds: number;
  drainSeconds: number;
  smtp: {
    sent: number;
    accepted: number;
    refusedTemporarily: number;
    connectionErrors: number;
    refusedPermanently: number;
    stored: number;
    duplicated: number;
    lost: number;
    /** Stored twice after the client saw its connection drop before the 250 and sent again (RFC 1047): the client's retry, not a server fault. */
    unansweredResent: number;
    misfiled: number;
  };
  api: {
    sent: number;
    accepted: number;
    errorResponses: Record<string, number>;
    connectionErrors: number;
    /** Sent, no answer (the backend died), not accepted when sent again before the deadline: stored at most once, all or nothing. */
    unanswered: number;
    /** Sent again with the same Idempotency-Key after no answer. */
    retriedAfterNoAnswer: number;
    unansweredStored: number;
    stored: number;
    duplicated: number;
    /** Where the extra copies were: the sender's Sent, the local recipient's INBOX, the remote Maildir. */
    duplicatedIn: { sent: number; inbox: number; remote: number };
    lost: number;
    remoteDelivered: number;
  };
  stuck: { spoolPending: number; spoolFailed: number; outboundPending: number; outboundFailed: number };
  processes: { unexpectedExits: string[] };
}

interface Row {
  user_id: number;
  special_use: string | null;
  subject: string;
  n: string;
}

async function storedRows(stack: FaultStack, tag: string): Promise<Row[]> {
  return stack.query<Row>(
    `SELECT m.user_id, mb.special_use, m.subject, count(*) AS n FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id
      WHERE m.subject LIKE $1 GROUP BY 1, 2, 3`,
    [`fault ${tag}-%`],
  );
}

async function remoteCounts(stack: FaultStack, tag: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const raw of await stack.postfix.messagesFor(REMOTE_MAILBOX)) {
    const head = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('latin1');
    const id = /^Subject: fault (\S+)\r?$/m.exec(head)?.[1];
    if (id?.startsWith(`${tag}-`)) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

async function queueState(stack: FaultStack) {
  const [spool] = await stack.query<{ pending: string; failed: string }>("SELECT count(*) FILTER (WHERE status = 'pending') AS pending, count(*) FILTER (WHERE status = 'failed') AS failed FROM spool");
  const [out] = await stack.query<{ pending: string; failed: string }>(
    "SELECT count(*) FILTER (WHERE status IN ('queued', 'deferred')) AS pending, count(*) FILTER (WHERE status IN ('bounced', 'expired')) AS failed FROM deliveries",
  );
  return { spoolPending: Number(spool!.pending), spoolFailed: Number(spool!.failed), outboundPending: Number(out!.pending), outboundFailed: Number(out!.failed) };
}

/** Waits until the spool and the outbound queue are empty and every accepted message arrived, then counts. */
export async function checkFaultRun(stack: FaultStack, fault: string, tag: string, plan: { messages: number; apiSends: number }, smtp: SmtpBook, api: ApiBook, times: { startedAt: number; loadEndedAt: number }, drainTimeoutMs: number): Promise<FaultFigures> {
  const key = (userId: number, subject: string) => `${userId} ${subject}`;
  await eventually(
    async () => {
      const state = await queueState(stack).catch(() => null);
      if (!state || state.spoolPending > 0 || state.outboundPending > 0) return false;
      const rows = await storedRows(stack, tag);
      const have = new Set(rows.map((r) => key(r.user_id, r.subject)));
      for (const [id, to] of smtp.acceptedIds) if (!have.has(key(to.id, `fault ${id}`))) return false;
      const remote = await remoteCounts(stack, tag);
      for (const id of api.acceptedIds.keys()) if (!remote.has(id)) return false;
      return true;
    },
    { timeoutMs: drainTimeoutMs, intervalMs: 500, describe: async () => `not drained: ${JSON.stringify(await queueState(stack).catch((e: Error) => e.message))}` },
  ).catch(() => undefined); // counted below: what is missing shows as lost or stuck
  const drainedAt = Date.now();

  const rows = await storedRows(stack, tag);
  const count = new Map<string, number>();
  for (const r of rows) count.set(`${r.user_id} ${r.special_use ?? ''} ${r.subject}`, (count.get(`${r.user_id} ${r.special_use ?? ''} ${r.subject}`) ?? 0) + Number(r.n));
  const copies = (userId: number, folder: string | null, id: string) => {
    if (folder !== null) return count.get(`${userId} ${folder} fault ${id}`) ?? 0;
    return rows.filter((r) => r.user_id === userId && r.subject === `fault ${id}`).reduce((s, r) => s + Number(r.n), 0);
  };

  // MX mail: in the recipient's mailboxes (any folder) exactly once.
  const s = { stored: 0, duplicated: 0, lost: 0, unansweredResent: 0, misfiled: 0 };
  for (const [id, to] of smtp.acceptedIds) {
    const n = copies(to.id, null, id);
    if (n >= 1) s.stored++;
    if (n === 0) s.lost++;
    else if (n === 2 && smtp.unanswered.has(id)) s.unansweredResent++;
    else if (n > 1) s.duplicated++;
  }
  const smtpIds = new Set(smtp.acceptedIds.keys());
  for (const r of rows) {
    const id = r.subject.slice('fault '.length);
    if (id.includes('-m') && (!smtpIds.has(id) || smtp.acceptedIds.get(id)!.id !== r.user_id)) s.misfiled += Number(r.n);
  }

  // API mail: the sender's Sent copy, the local recipient's INBOX copy and the remote copy, each exactly once.
  const remote = await remoteCounts(stack, tag);
  const a = { stored: 0, duplicated: 0, lost: 0, unansweredStored: 0, remoteDelivered: 0 };
  const duplicatedIn = { sent: 0, inbox: 0, remote: 0 };
  const noteDuplicates = (n: number[]) => {
    if (n[0]! > 1) duplicatedIn.sent++;
    if (n[1]! > 1) duplicatedIn.inbox++;
    if (n[2]! > 1) duplicatedIn.remote++;
  };
  for (const [id, { from, to }] of api.acceptedIds) {
    const n = [copies(from.id, '\\Sent', id), copies(to.id, '\\Inbox', id), remote.get(id) ?? 0];
    if (n.every((c) => c === 1)) a.stored++;
    if (n.some((c) => c === 0)) a.lost++;
    if (n.some((c) => c > 1)) a.duplicated++;
    noteDuplicates(n);
    if ((remote.get(id) ?? 0) > 0) a.remoteDelivered++;
  }
  for (const [id, { from, to }] of api.unanswered) {
    const n = [copies(from.id, '\\Sent', id), copies(to.id, '\\Inbox', id), remote.get(id) ?? 0];
    noteDuplicates(n);
    if (n.some((c) => c > 1) || new Set(n).size > 1) a.duplicated++; // at most once, and all or nothing
    else if (n[0] === 1) a.unansweredStored++;
  }

  const apiSent = api.acceptedIds.size + api.unanswered.size;
  return {
    fault,
    loadSeconds: Math.round((times.loadEndedAt - times.startedAt) / 100) / 10,
    drainSeconds: Math.round((drainedAt - times.loadEndedAt) / 100) / 10,
    smtp: {
      sent: plan.messages,
      accepted: smtp.accepted,
      refusedTemporarily: smtp.tempRefused,
      connectionErrors: smtp.connectionErrors,
      refusedPermanently: smtp.permRefused,
      ...s,
    },
    api: {
      sent: apiSent,
      accepted: api.accepted,
      errorResponses: api.errors,
      connectionErrors: api.connectionErrors,
      unanswered: api.unanswered.size,
      retriedAfterNoAnswer: api.retriedAfterNoAnswer,
      unansweredStored: a.unansweredStored,
      stored: a.stored,
      duplicated: a.duplicated,
      duplicatedIn,
      lost: a.lost,
      remoteDelivered: a.remoteDelivered,
    },
    stuck: await queueState(stack),
    processes: { unexpectedExits: [...stack.unexpectedExits] },
  };
}

/** One line per fault, for the test's output and the bench table. */
export function figuresLine(f: FaultFigures): string {
  const errors = Object.entries(f.api.errorResponses)
    .map(([code, n]) => `${n}×${code}`)
    .join(' ');
  return (
    `${f.fault}: SMTP sent ${f.smtp.sent}, accepted ${f.smtp.accepted}, refused temporarily ${f.smtp.refusedTemporarily}, connection errors ${f.smtp.connectionErrors}, ` +
    `stored ${f.smtp.stored}, duplicated ${f.smtp.duplicated}, lost ${f.smtp.lost}, resent after no answer ${f.smtp.unansweredResent}; ` +
    `API sent ${f.api.sent}, accepted ${f.api.accepted}, errors ${errors || '0'}, no answer ${f.api.retriedAfterNoAnswer} (sent again with the same key), unknown ${f.api.unanswered} (${f.api.unansweredStored} stored), stored ${f.api.stored}, duplicated ${f.api.duplicated}${f.api.duplicated ? ` ${JSON.stringify(f.api.duplicatedIn)}` : ''}, lost ${f.api.lost}; ` +
    `stuck ${f.stuck.spoolPending + f.stuck.outboundPending}; load ${f.loadSeconds} s, drain ${f.drainSeconds} s`
  );
}
