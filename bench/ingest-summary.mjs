// Issue #14's side-by-side summary for bench/smtp-ingest.mjs: each Mailyard figure next to its peer
// (Postfix) with the ratio and the issue's target, or against an absolute target (steady phase).
import { STEADY_TARGETS } from './ingest-steady.mjs';
import { round } from './lib.mjs';

/** Issue #14's ratios of Mailyard to Postfix. */
export const RATIO_TARGETS = { endToEnd: 1.0, newConnection: 1.2, reusedConnection: 3.0 };

const ok = (r) => r && !r.error;

/**
 * The rows, each `{ what, mailyard, peer, peerName, ratio, goal, met, note? }`; a row whose two sides were
 * not both measured has `met: null` (not judged). Only rows with something measured are listed.
 */
export function issue14Summary(results, userCounts) {
  const rows = [];
  /** `min` null: shown with its ratio, not judged. */
  const versus = (what, mailyard, peer, peerName, min) => {
    if (mailyard == null && peer == null) return;
    const ratio = mailyard != null && peer ? round(mailyard / peer, 2) : null;
    if (min === null) return rows.push({ what, mailyard, peer, peerName, ratio, goal: '(cold: shown, not judged)', met: null });
    rows.push({ what, mailyard, peer, peerName, ratio, goal: `≥ ${min.toFixed(2)}× ${peerName}`, met: ratio === null ? null : ratio >= min });
  };
  const e2e = results.endToEnd ?? {};
  const postfixMaildir = e2e['postfix-maildir'];
  for (const [target, how] of [['mailyard-e2e', 'separate processes'], ['mailyard-npm-start', 'npm start']]) {
    const cold = e2e[target]?.cold;
    if (cold) versus(`e2e msg/s, cold: first ${cold.messages}, ${cold.users} user(s), ${how}`, cold.messagesPerSecond, postfixMaildir?.cold?.messagesPerSecond, 'Postfix-Maildir', null);
    for (const users of userCounts) {
      const mine = e2e[target]?.runs?.[`users${users}`]?.messagesPerSecond;
      const peer = postfixMaildir?.runs?.[`users${users}`]?.messagesPerSecond;
      versus(`e2e msg/s, ${users} user(s), ${how}`, mine, peer, 'Postfix-Maildir', RATIO_TARGETS.endToEnd);
    }
  }
  const m = ok(results.mailyard) ? results.mailyard : null;
  const p = ok(results.postfix) ? results.postfix : null;
  versus('acceptance msg/s, new connection per message', m?.newConnection?.acceptedPerSecond, p?.newConnection?.messagesPerSecond, 'Postfix', RATIO_TARGETS.newConnection);
  versus('acceptance msg/s, connections reused', m?.reusedConnection?.acceptedPerSecond, p?.reusedConnection?.messagesPerSecond, 'Postfix', RATIO_TARGETS.reusedConnection);

  for (const run of Object.values(e2e['mailyard-steady']?.runs ?? {})) {
    const rate = run.ratePerSecond;
    const target = STEADY_TARGETS[rate];
    const clean = run.rateReached && run.errors === 0 && run.eventsMissing === 0;
    const note = [!run.rateReached && `replies at ${run.acceptedPerSecond} msg/s, not ${rate}`, run.errors > 0 && `${run.errors} errors`, run.eventsMissing > 0 && `${run.eventsMissing} events missing`].filter(Boolean).join(', ');
    const p99 = run.acceptedToVisibleMs.p99;
    rows.push({
      what: `steady ${rate} msg/s ${run.seconds} s: accepted → visible p99 ms`,
      mailyard: p99,
      peer: null,
      peerName: null,
      ratio: null,
      goal: target ? `< ${target.p99Ms} ms` : '(no target at this rate)',
      met: target ? clean && p99 !== null && p99 < target.p99Ms : null,
      note,
    });
    const b = run.backlog;
    rows.push({
      what: `steady ${rate} msg/s: spool backlog max / last / last-third max`,
      mailyard: `${b.max} / ${b.last} / ${b.lastThirdMax}`,
      peer: null,
      peerName: null,
      ratio: null,
      goal: target ? `last-third max ≤ ${rate} rows` : '(no target at this rate)',
      // Not fed at the rate, the backlog was in the sender: the target is not shown to be met.
      met: target ? b.bounded && run.rateReached : null,
      note: run.rateReached ? '' : `replies at ${run.acceptedPerSecond} msg/s, not ${rate}`,
    });
  }
  const judged = rows.filter((r) => r.met !== null);
  return { ratioTargets: RATIO_TARGETS, steadyTargets: STEADY_TARGETS, rows, allMet: judged.length > 0 && judged.every((r) => r.met) };
}

export function printIssue14Summary(summary) {
  if (!summary || summary.rows.length === 0) return;
  const fmt = (n) => (n === null || n === undefined ? '—' : String(n));
  const widths = [60, 18, 10, 7, 28];
  const line = (cells) => cells.map((c, i) => (i < widths.length ? String(c).padEnd(widths[i]) : c)).join('  ');
  console.log('\nIssue #14, side by side (fsync on everywhere):');
  console.log(line(['', 'Mailyard', 'peer', 'ratio', 'target', 'result']));
  console.log(line(widths.map((w) => '-'.repeat(w)).concat(['------'])));
  for (const r of summary.rows) console.log(line([r.what, fmt(r.mailyard), fmt(r.peer), r.ratio === null ? '—' : `${r.ratio}×`, r.goal, `${r.met === null ? 'not judged' : r.met ? 'MET' : 'MISSED'}${r.note ? ` (${r.note})` : ''}`]));
}
