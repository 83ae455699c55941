import { describe, expect, it } from 'vitest';
import type { AuthenticationJson } from '../../db/schema.js';
import { GTUBE, contentChecks } from './rules.js';
import { DEFAULT_SPAM_THRESHOLDS, applySenderRule, authenticationChecks, scoreMessage, type ScoreInput } from './score.js';

const passing: AuthenticationJson = {
  spf: { result: 'pass', domain: 'good.test' },
  dkim: { result: 'pass', domain: 'good.test' },
  dmarc: { result: 'pass', domain: 'good.test', policy: 'reject' },
  arc: { result: 'none', domain: null },
};
const failing: AuthenticationJson = {
  spf: { result: 'fail', domain: 'bad.test' },
  dkim: { result: 'fail', domain: 'bad.test' },
  dmarc: { result: 'fail', domain: 'bad.test', policy: 'none' },
  arc: { result: 'none', domain: null },
};

function message(headers: string, body = 'Hello,\r\nsee you tomorrow.\r\n'): Buffer {
  return Buffer.from(`${headers.replace(/\n/g, '\r\n')}\r\n\r\n${body}`);
}
const plain = message('From: ann@good.test\nTo: bob@in.test\nSubject: Lunch\nDate: Sun, 6 Dec 2026 12:00:00 +0000\nMessage-ID: <1@good.test>');

function score(overrides: Partial<ScoreInput> = {}) {
  return scoreMessage({ raw: plain, authentication: passing, policy: { action: 'accept', reason: null }, trustedNetwork: false, thresholds: DEFAULT_SPAM_THRESHOLDS, ...overrides });
}

describe('the content rules', () => {
  it('say nothing about an ordinary message', () => {
    expect(contentChecks(plain)).toEqual([]);
  });

  it('score the GTUBE string at 1000 points', () => {
    expect(contentChecks(message('Subject: test\nDate: x\nMessage-ID: <a@b>', `${GTUBE}\r\n`))).toEqual([
      { check: 'rule', result: 'gtube', score: 1000, detail: expect.stringContaining('GTUBE') },
    ]);
  });

  it('notice a subject in capitals, a missing Date and Message-ID, and very many recipients', () => {
    const many = Array.from({ length: 30 }, (_, i) => `u${i}@x.test`).join(', ');
    const results = contentChecks(message(`Subject: WIN A FREE PRIZE\nTo: ${many}`)).map((c) => c.result);
    expect(results).toEqual(['subject-capitals', 'no-date', 'no-message-id', 'many-recipients']);
    expect(contentChecks(message('Subject: Win a free prize\nDate: x\nMessage-ID: <a@b>\nTo: a@x.test, b@x.test'))).toEqual([]);
  });

  it('notice HTML-only mail that is little more than a link, also base64-encoded', () => {
    const html = '<html><body><a href="http://x.test/claim">Click here</a></body></html>';
    const head = 'Date: x\nMessage-ID: <a@b>\nContent-Type: text/html; charset=utf-8';
    expect(contentChecks(message(head, html)).map((c) => c.result)).toEqual(['html-only-link']);
    expect(contentChecks(message(`${head}\nContent-Transfer-Encoding: base64`, Buffer.from(html).toString('base64'))).map((c) => c.result)).toEqual(['html-only-link']);
    const letter = `<p>Dear Bob, the minutes of Tuesday's meeting are on the <a href="http://x.test/m">intranet</a>; comments by Friday please.</p>`;
    expect(contentChecks(message(head, letter))).toEqual([]);
  });
});

describe('the spam score', () => {
  it('delivers authenticated mail to the Inbox with a plain null reason, DMARC pass counted as a good sign', () => {
    const outcome = score();
    expect(outcome).toMatchObject({ action: 'accept', refusal: null, reason: null });
    expect(outcome.filter).toEqual({
      verdict: 'inbox', score: -1, junkThreshold: 6, rejectThreshold: 15, engine: 'builtin', override: null, reason: null,
      checks: [{ check: 'dmarc', result: 'pass', score: -1, detail: expect.stringContaining('good.test') }],
    });
  });

  it('adds SPF, DKIM and DMARC failures, connection checks and content rules, and files in Junk at the threshold', () => {
    const outcome = score({
      authentication: failing,
      raw: message('Subject: FREE MONEY FOR YOU\nDate: x\nMessage-ID: <a@b>'),
      connectionChecks: [{ check: 'dnsbl', result: 'listed', score: 1, detail: 'listed on zen.example.org' }],
    });
    // spf 2 + dkim 1.5 + dmarc 2 + dnsbl 1 + capitals 1.5 = 8
    expect(outcome.filter.score).toBe(8);
    expect(outcome.filter.checks.map((c) => `${c.check}:${c.result}`)).toEqual(['spf:fail', 'dkim:fail', 'dmarc:fail', 'dnsbl:listed', 'rule:subject-capitals']);
    expect(outcome).toMatchObject({ action: 'junk', refusal: null, filter: { verdict: 'junk' } });
    expect(outcome.reason).toMatch(/^Spam score 8 is at or above the Junk threshold 6: the SPF record of bad\.test does not allow/);
  });

  it('stays in the Inbox just under the threshold, and the thresholds are the configured ones', () => {
    const failed = score({ authentication: failing }); // 5.5
    expect(failed).toMatchObject({ action: 'accept', filter: { score: 5.5, verdict: 'inbox' } });
    expect(score({ authentication: failing, thresholds: { junk: 5, reject: 10 } })).toMatchObject({ action: 'junk', filter: { junkThreshold: 5, rejectThreshold: 10 } });
  });

  it('refuses far above the threshold as spam', () => {
    const outcome = score({ raw: message('Subject: test\nDate: x\nMessage-ID: <a@b>', GTUBE) });
    expect(outcome).toMatchObject({ action: 'reject', refusal: 'spam', filter: { score: 999, verdict: 'junk' } });
    expect(outcome.reason).toContain('refusal threshold 15');
  });

  it('keeps the DMARC policy verdicts and shows them as a check', () => {
    const quarantined = score({ policy: { action: 'junk', reason: 'DMARC policy quarantine of q.test: fail' } });
    expect(quarantined).toMatchObject({ action: 'junk', refusal: null, reason: 'DMARC policy quarantine of q.test: fail' });
    expect(quarantined.filter.checks).toContainEqual({ check: 'policy', result: 'junk', score: 0, detail: 'DMARC policy quarantine of q.test: fail' });
    expect(score({ policy: { action: 'reject', reason: 'DMARC policy reject of r.test: fail' } })).toMatchObject({ action: 'reject', refusal: 'policy' });
  });

  it('never sends mail from a trusted network to Junk or refuses it, but records the score', () => {
    const outcome = score({ trustedNetwork: true, raw: message('Subject: x', GTUBE) });
    expect(outcome).toMatchObject({ action: 'accept', refusal: null, filter: { verdict: 'inbox', score: 1001 } });
    expect(outcome.reason).toMatch(/trusted network.*would have refused it/);
  });

  it('uses the engine instead of the content rules when it answered, auth checks listed at 0 points', () => {
    const engine = { score: 7, action: 'add header', checks: [{ check: 'rspamd', result: 'BAYES_SPAM', score: 7, detail: null }] };
    const outcome = score({ authentication: failing, raw: message('Subject: FREE MONEY FOR YOU'), engine });
    expect(outcome.filter.engine).toBe('rspamd');
    // rspamd scores SPF, DKIM and DMARC itself: ours are listed at 0 points, not counted twice.
    expect(outcome.filter.score).toBe(7);
    expect(outcome.filter.checks.map((c) => [c.result, c.score])).toEqual([['fail', 0], ['fail', 0], ['fail', 0], ['BAYES_SPAM', 7]]);
    expect(outcome.filter.checks[0]!.detail).toContain("(counted in rspamd's score)");
  });

  it('lists DNS trouble at 0 points and never counts it', () => {
    const temp: AuthenticationJson = { spf: { result: 'temperror', domain: null }, dkim: { result: 'temperror', domain: null }, dmarc: { result: 'temperror', domain: null, policy: null }, arc: { result: 'none', domain: null } };
    expect(authenticationChecks(temp).map((c) => [c.check, c.result, c.score])).toEqual([['spf', 'temperror', 0], ['dkim', 'temperror', 0], ['dmarc', 'temperror', 0]]);
    const none: AuthenticationJson = { spf: { result: 'none', domain: null }, dkim: { result: 'none', domain: null }, dmarc: { result: 'none', domain: null, policy: null }, arc: { result: 'none', domain: null } };
    expect(authenticationChecks(none)).toEqual([{ check: 'auth', result: 'none', score: 1, detail: expect.any(String) }]);
  });
});

describe("a user's sender lists", () => {
  const junked = score({ authentication: failing, raw: message('Subject: FREE MONEY FOR YOU') }).filter;

  it('allow files in the Inbox whatever the score, and says so', () => {
    const decided = applySenderRule(junked, 'allow', 'ann@bad.test');
    expect(decided).toMatchObject({ verdict: 'inbox', override: 'allow', reason: 'Your allow list matches ann@bad.test, so it was filed in the Inbox.', score: junked.score });
    expect(decided.checks.at(-1)).toEqual({ check: 'sender-list', result: 'allow', score: 0, detail: 'your allow list matches ann@bad.test' });
  });

  it('block files in Junk, and no entry changes nothing', () => {
    expect(applySenderRule(score().filter, 'block', 'ann@good.test')).toMatchObject({ verdict: 'junk', override: 'block' });
    expect(applySenderRule(junked, undefined, 'ann@bad.test')).toBe(junked);
  });

  it('an allow entry cannot vouch for a From that failed its DMARC policy', () => {
    const forged = score({ policy: { action: 'junk', reason: 'DMARC policy quarantine of q.test: fail' } }).filter;
    expect(applySenderRule(forged, 'allow', 'ceo@q.test')).toMatchObject({ verdict: 'junk', override: null, checks: expect.arrayContaining([expect.objectContaining({ result: 'allow-ignored' })]) });
  });
});
