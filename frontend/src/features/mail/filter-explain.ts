/**
 * The spam filter's decision and the sender checks in plain words (issue 11): what each check
 * (SPF, DKIM, DMARC, ARC, blocklists, reverse DNS, the sender's policy, rspamd's symbols, content
 * rules, the user's own lists; core/src/mail/spam/ writes them) found, with a one-line
 * explanation of what the check is, for "Why is this in Junk?" and the reader's "Authentication"
 * line. Pure functions: the components only lay them out.
 */
import type { FilterCheckDto, MessageAuthenticationDto } from '@mailyard/core/contracts';

export type Tone = 'good' | 'bad' | 'neutral';

export interface ExplainedCheck {
  /** A short name: "SPF", "Blocklist", "Your block list". */
  name: string;
  /** What the check found, as a sentence. */
  sentence: string;
  /** What the check is, for someone who has never heard of it. */
  about: string;
  tone: Tone;
  /** Points it added (negative: a good sign). */
  score: number;
}

type AuthName = 'spf' | 'dkim' | 'dmarc' | 'arc';

const ABOUT: Record<string, string> = {
  spf: 'SPF: the sender’s domain lists the servers allowed to send its mail.',
  dkim: 'DKIM: a signature the sender’s server puts on the message, which breaks if the message is changed on the way.',
  dmarc: 'DMARC: whether SPF or DKIM confirm the domain in the From line, and what its owner asks us to do when they do not.',
  arc: 'ARC: a seal by which a forwarding server (a mailing list, an alias) vouches for the checks it saw.',
  dnsbl: 'Blocklists: public lists of servers known to send spam.',
  rdns: 'Reverse DNS: whether the sending server’s address has a name that leads back to it, as real mail servers do.',
  auth: 'Whether the sender proved who it is, with SPF, DKIM or DMARC; most real senders do.',
  policy: 'The rule the owner of the From domain publishes (DMARC) for mail that fails its checks, or Mailyard’s own rule against mail forged from your domains.',
  rspamd: 'rspamd: the spam filter that reads the content and compares it with known spam.',
  rule: 'Built-in rule: a simple content check Mailyard makes when no spam filter is configured.',
  'sender-list': 'Your lists of blocked and allowed senders, in Settings.',
};

const NAMES: Record<string, string> = {
  spf: 'SPF',
  dkim: 'DKIM',
  dmarc: 'DMARC',
  arc: 'ARC',
  dnsbl: 'Blocklist',
  rdns: 'Reverse DNS',
  auth: 'Authentication',
  policy: 'Sender’s policy',
  rspamd: 'Content filter',
  rule: 'Content rule',
  'sender-list': 'Your lists',
};

const DNS_TROUBLE = 'could not be checked: DNS did not answer in time (this alone never sends mail to Junk)';

/** What an SPF, DKIM, DMARC or ARC result means, about `domain` (null: not known). */
export function authSentence(check: AuthName, result: string, domain: string | null, policy: string | null = null): string {
  const d = domain ?? 'the sender’s domain';
  if (result === 'temperror') return DNS_TROUBLE;
  switch (check) {
    case 'spf':
      if (result === 'pass') return `this server is allowed to send for ${d}`;
      if (result === 'fail') return `this server is not allowed to send for ${d}`;
      if (result === 'softfail') return `${d} says this server is probably not one of its own`;
      if (result === 'neutral') return `${d} makes no claim about this server`;
      if (result === 'none') return `${d} does not list its servers`;
      if (result === 'permerror') return `${d} publishes a broken SPF record`;
      break;
    case 'dkim':
      if (result === 'pass') return `signature by ${d} verified`;
      if (result === 'fail') return `the signature by ${d} does not match: the message was changed after it was signed, or the signature is forged`;
      if (result === 'none') return 'the message is not signed';
      if (result === 'permerror' || result === 'neutral' || result === 'policy') return `the signature by ${d} could not be used`;
      break;
    case 'dmarc': {
      if (result === 'pass') return `the From address (${d}) is confirmed by SPF or DKIM`;
      if (result === 'fail') {
        const asks = policy === 'reject' ? 'asks that such mail be refused' : policy === 'quarantine' ? 'asks that such mail go to Junk' : 'asks for nothing special';
        return `nothing confirms that this message really comes from ${d}; its owner ${asks}`;
      }
      if (result === 'none') return `${d} publishes no DMARC policy`;
      if (result === 'permerror') return `${d} publishes a broken DMARC record`;
      break;
    }
    case 'arc':
      if (result === 'pass') return 'a forwarding server vouches for the checks it saw';
      if (result === 'fail') return 'the forwarding seal is broken';
      if (result === 'none') return 'the message was not forwarded with a seal';
      break;
  }
  return `result “${result}”`;
}

function toneOf(check: string, result: string, score: number): Tone {
  if (score > 0) return 'bad';
  if (score < 0) return 'good';
  if (['pass', 'clear', 'allowed', 'allow', 'ham'].includes(result)) return 'good';
  if (['fail', 'listed', 'blocked', 'block', 'spam', 'softfail'].includes(result) && check !== 'arc') return 'bad';
  return 'neutral';
}

function isAuth(check: string): check is AuthName {
  return check === 'spf' || check === 'dkim' || check === 'dmarc' || check === 'arc';
}

function sentenceFor(check: FilterCheckDto, auth: MessageAuthenticationDto): string {
  if (isAuth(check.check)) {
    const facts = auth?.[check.check];
    return authSentence(check.check, check.result, facts?.domain ?? null, check.check === 'dmarc' ? (auth?.dmarc.policy ?? null) : null);
  }
  if (check.result === 'temperror') return DNS_TROUBLE;
  switch (check.check) {
    case 'dnsbl':
      if (check.result === 'listed') return check.detail ?? 'the sending server is on a list of known spam senders';
      if (check.result === 'clear') return check.detail ?? 'the sending server is on no list of spam senders';
      break;
    case 'rdns':
      if (check.result === 'pass') return 'the sending server’s name leads back to its address';
      if (check.result === 'fail') return 'the sending server’s name does not lead back to its address, as is common for hijacked home computers';
      if (check.result === 'none') return 'the sending server has no name';
      break;
    case 'auth':
      if (check.result === 'none') return 'the sender did not prove who it is in any way (no SPF, DKIM or DMARC)';
      break;
    case 'sender-list':
      if (check.result === 'blocked' || check.result === 'block') return check.detail ?? 'you blocked this sender';
      if (check.result === 'allowed' || check.result === 'allow') return check.detail ?? 'you always allow this sender';
      break;
  }
  return check.detail ?? check.result;
}

/** One check of the filter, explained. */
export function explainCheck(check: FilterCheckDto, auth: MessageAuthenticationDto): ExplainedCheck {
  return {
    name: NAMES[check.check] ?? check.check,
    sentence: sentenceFor(check, auth),
    about: check.check === 'rspamd' ? `${ABOUT.rspamd} Its rule: ${check.result}.` : (ABOUT[check.check] ?? 'A check of the spam filter.'),
    tone: toneOf(check.check, check.result, check.score),
    score: check.score,
  };
}

/** The checks, heaviest first (by how much they moved the score, either way). */
export function explainChecks(checks: readonly FilterCheckDto[], auth: MessageAuthenticationDto): ExplainedCheck[] {
  return checks
    .map((c, i) => ({ c, i }))
    .sort((a, b) => Math.abs(b.c.score) - Math.abs(a.c.score) || a.i - b.i)
    .map(({ c }) => explainCheck(c, auth));
}

/** The reader's "Authentication" lines: SPF, DKIM, DMARC and ARC as the MX found them. */
export function explainAuthentication(auth: NonNullable<MessageAuthenticationDto>): ExplainedCheck[] {
  return (['dmarc', 'dkim', 'spf', 'arc'] as const).map((check) => {
    const facts = auth[check];
    return {
      name: NAMES[check]!,
      sentence: authSentence(check, facts.result, facts.domain, check === 'dmarc' ? auth.dmarc.policy : null),
      about: ABOUT[check]!,
      tone: toneOf(check, facts.result, 0),
      score: 0,
    };
  });
}

/** One word on the whole: does the From address check out? (DMARC decides that.) */
export function authenticationSummary(auth: NonNullable<MessageAuthenticationDto>): { text: string; tone: Tone } {
  if (auth.dmarc.result === 'pass') return { text: `the sender (${auth.dmarc.domain ?? 'its domain'}) is verified`, tone: 'good' };
  if (auth.dmarc.result === 'fail') return { text: 'the sender could not be verified', tone: 'bad' };
  if (auth.dkim.result === 'pass' || auth.spf.result === 'pass') return { text: 'partly verified', tone: 'neutral' };
  return { text: 'not verified', tone: 'neutral' };
}

/** Points as "+3.5" / "−1" / "0". */
export function points(score: number): string {
  const rounded = Math.round(score * 10) / 10;
  if (rounded > 0) return `+${rounded}`;
  if (rounded < 0) return `−${Math.abs(rounded)}`;
  return '0';
}
