import type { AuthenticationJson, FilterCheckJson, FilterDecisionJson } from '../../db/schema.js';
import type { SenderRuleKind } from '../../repositories/sender-rule.repository.js';
import type { SpamEngineResult } from './engine.js';
import { contentChecks } from './rules.js';

/**
 * The spam decision of a received message (issue 11), pure so the unit tests state its rules:
 * points from the authentication results, from the connection checks (DNSBL, reverse DNS: their
 * points as given) and from the content (the engine's score and symbols when one answered, else
 * the built-in rules of rules.ts; with the engine's answer the authentication results are listed
 * at 0 points, as its own rules score them), against two thresholds: Junk at SPAM_JUNK_THRESHOLD, refused
 * at DATA at SPAM_REJECT_THRESHOLD. The DMARC/own-domain policy verdict (`decideTrust`) stands
 * beside the score as a check of its own: a quarantine is Junk whatever the score. Mail from the
 * trusted networks is scored and recorded but never sent to Junk or refused.
 *
 * `applySenderRule` is the second step, at filing, per user: the user's allow or block list
 * overrides the score (but an allow entry cannot vouch for a From that failed its DMARC policy).
 */

export interface SpamThresholds {
  junk: number;
  reject: number;
}
export const DEFAULT_SPAM_THRESHOLDS: SpamThresholds = { junk: 6, reject: 15 };

/** The points authentication results add (negative: a good sign). */
export const AUTH_POINTS = { spfFail: 2, spfSoftfail: 1, dkimFail: 1.5, dmarcFail: 2, dmarcPass: -1, unauthenticated: 1 } as const;

type Action = 'accept' | 'junk' | 'reject';

const of = (domain: string | null) => (domain ? ` of ${domain}` : '');

/** What SPF, DKIM and DMARC said, as checks with their points. DNS trouble is listed at 0 points. */
export function authenticationChecks(a: AuthenticationJson): FilterCheckJson[] {
  const checks: FilterCheckJson[] = [];
  const add = (check: string, result: string, score: number, detail: string) => checks.push({ check, result, score, detail });
  if (a.spf.result === 'fail') add('spf', 'fail', AUTH_POINTS.spfFail, `the SPF record${of(a.spf.domain)} does not allow this sending server`);
  if (a.spf.result === 'softfail') add('spf', 'softfail', AUTH_POINTS.spfSoftfail, `the SPF record${of(a.spf.domain)} discourages mail from this sending server`);
  if (a.dkim.result === 'fail') add('dkim', 'fail', AUTH_POINTS.dkimFail, `the DKIM signature${of(a.dkim.domain)} does not verify: altered or forged`);
  if (a.dmarc.result === 'fail') add('dmarc', 'fail', AUTH_POINTS.dmarcFail, `the From domain${a.dmarc.domain ? ` ${a.dmarc.domain}` : ''} is not authenticated (DMARC fail)`);
  if (a.dmarc.result === 'pass') add('dmarc', 'pass', AUTH_POINTS.dmarcPass, `the From domain${a.dmarc.domain ? ` ${a.dmarc.domain}` : ''} is authenticated (DMARC pass)`);
  if (['none', 'neutral'].includes(a.spf.result) && a.dkim.result === 'none' && a.dmarc.result === 'none') {
    add('auth', 'none', AUTH_POINTS.unauthenticated, 'the sender is not authenticated at all (no SPF, DKIM or DMARC)');
  }
  for (const [name, check] of [['spf', a.spf], ['dkim', a.dkim], ['dmarc', a.dmarc]] as const) {
    if (check.result === 'temperror') add(name, 'temperror', 0, `${name.toUpperCase()} could not be checked (DNS trouble); not counted`);
  }
  return checks;
}

export interface ScoreInput {
  raw: Buffer;
  authentication: AuthenticationJson;
  /** `decideTrust`'s verdict from the DMARC and own-domain policies (already relaxed for trusted networks). */
  policy: { action: Action; reason: string | null };
  trustedNetwork: boolean;
  /** DNSBL, reverse DNS…: counted as given. */
  connectionChecks?: readonly FilterCheckJson[];
  /** The engine's answer; null or absent: the built-in content rules. */
  engine?: SpamEngineResult | null;
  thresholds: SpamThresholds;
}

export interface ScoreOutcome {
  action: Action;
  /** What refused it: the sender's policy (DMARC, own domain) or the score; null when not refused. */
  refusal: 'policy' | 'spam' | null;
  /** One sentence: the 550 text, the log line, the `reason` stored. */
  reason: string | null;
  filter: FilterDecisionJson;
}

const RANK: Record<Action, number> = { accept: 0, junk: 1, reject: 2 };
const round = (n: number) => Math.round(n * 100) / 100;

/** The strongest few checks that added points, for the one-sentence reason. */
function mainSigns(checks: readonly FilterCheckJson[]): string {
  return [...checks]
    .filter((c) => c.score > 0)
    .sort((a, b) => b.score - a.score)
    .slice(0, 3)
    .map((c) => c.detail ?? `${c.check} ${c.result}`)
    .join('; ');
}

/** Scores a message and decides where it goes: see the module comment. */
export function scoreMessage(input: ScoreInput): ScoreOutcome {
  const { thresholds, policy } = input;
  // rspamd runs its own SPF, DKIM and DMARC rules: with its answer ours are listed but not counted twice.
  const auth = authenticationChecks(input.authentication).map((c) => (input.engine && c.score !== 0 ? { ...c, score: 0, detail: `${c.detail} (counted in rspamd's score)` } : c));
  const listed = [...auth, ...(input.connectionChecks ?? [])];
  const content = input.engine ? input.engine.checks : contentChecks(input.raw);
  const contentScore = input.engine ? input.engine.score : content.reduce((sum, c) => sum + c.score, 0);
  const score = round(listed.reduce((sum, c) => sum + c.score, 0) + contentScore);
  const checks = [...listed, ...content];
  if (policy.reason) checks.push({ check: 'policy', result: policy.action, score: 0, detail: policy.reason });

  const byScore: Action = score >= thresholds.reject ? 'reject' : score >= thresholds.junk ? 'junk' : 'accept';
  let action: Action = policy.action;
  let refusal: ScoreOutcome['refusal'] = policy.action === 'reject' ? 'policy' : null;
  let reason = policy.reason;
  if (input.trustedNetwork) {
    // decideTrust has already relaxed the policy verdict to accept for these clients.
    if (!reason && byScore !== 'accept') reason = `From a trusted network, so delivered although its spam score ${score} would have ${byScore === 'reject' ? 'refused it' : 'filed it in Junk'}.`;
  } else if (RANK[byScore] > RANK[action]) {
    action = byScore;
    refusal = byScore === 'reject' ? 'spam' : null;
    const threshold = byScore === 'reject' ? `the refusal threshold ${thresholds.reject}` : `the Junk threshold ${thresholds.junk}`;
    reason = `Spam score ${score} is at or above ${threshold}: ${mainSigns(checks)}.`;
  }
  const filter: FilterDecisionJson = {
    verdict: action === 'accept' ? 'inbox' : 'junk',
    score,
    junkThreshold: thresholds.junk,
    rejectThreshold: thresholds.reject,
    engine: input.engine ? 'rspamd' : 'builtin',
    override: null,
    reason,
    checks,
  };
  return { action, refusal, reason, filter };
}

/** Whether the sender's own policy (DMARC, our own domain) found the From forged: no allow list can vouch for it then. */
function failedSenderPolicy(filter: FilterDecisionJson): boolean {
  return filter.checks.some((c) => c.check === 'policy' && c.result !== 'accept');
}

/**
 * One user's decision: the message's decision with their sender list applied (`rule`: what their
 * most specific matching entry says, if any). allow → Inbox, block → Junk, `override` set and the
 * reason saying so.
 */
export function applySenderRule(filter: FilterDecisionJson, rule: SenderRuleKind | undefined, sender: string): FilterDecisionJson {
  if (!rule) return filter;
  if (rule === 'allow' && failedSenderPolicy(filter)) {
    const detail = `your allow list matches ${sender}, but the message failed its sender's authentication policy`;
    return { ...filter, checks: [...filter.checks, { check: 'sender-list', result: 'allow-ignored', score: 0, detail }] };
  }
  const verdict = rule === 'allow' ? 'inbox' : 'junk';
  const reason = `Your ${rule} list matches ${sender}, so it was filed in ${rule === 'allow' ? 'the Inbox' : 'Junk'}.`;
  const detail = `your ${rule} list matches ${sender}`;
  return { ...filter, verdict, override: rule, reason, checks: [...filter.checks, { check: 'sender-list', result: rule, score: 0, detail }] };
}
