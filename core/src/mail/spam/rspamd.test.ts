import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/process-utils.js';
import { allocateRedisUrl } from '../../../../tests/helpers/redis.js';
import { startRspamd, type TestRspamd } from '../../../../tests/helpers/rspamd.js';
import { createRspamdEngine, parseRspamdReply, SpamLearnError } from './rspamd.js';

/** The rspamd engine against a private rspamd from Debian (tests/helpers/rspamd.ts). */

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

function message(id: string, body: string, subject = 'lunch tomorrow'): Buffer {
  return Buffer.from(
    [`From: Alice <alice@example.org>`, `To: bob@example.com`, `Subject: ${subject}`, `Date: Sun, 6 Dec 2026 12:00:00 +0000`, `Message-ID: <${id}@example.org>`, `Content-Type: text/plain; charset=utf-8`, '', body, ''].join('\r\n'),
  );
}

const envelope = { ip: '127.0.0.1', helo: 'mail.example.org', mailFrom: 'alice@example.org', rcptTo: ['bob@example.com'] };

let rspamd: TestRspamd;

beforeAll(async () => {
  const redis = await allocateRedisUrl();
  rspamd = await startRspamd({ redisUrl: redis.url, password: 'test-controller-password' });
});

afterAll(async () => {
  await rspamd?.stop();
});

describe('rspamd engine: check', () => {
  it('scores the GTUBE test string as spam, with the rule named in the checks', async () => {
    const engine = createRspamdEngine({ url: rspamd.url, timeoutMs: 10_000 });
    const result = await engine.check({ raw: message('gtube-1', `This is a test.\r\n${GTUBE}`), ...envelope });
    expect(result).not.toBeNull();
    expect(result!.action).toBe('reject');
    expect(result!.score).toBeGreaterThanOrEqual(15);
    expect(result!.checks.map((c) => c.result)).toContain('GTUBE');
    expect(result!.checks.every((c) => c.check === 'rspamd' && c.score !== 0)).toBe(true);
  });

  it('scores a plain personal message low', async () => {
    const engine = createRspamdEngine({ url: rspamd.url, timeoutMs: 10_000 });
    const result = await engine.check({ raw: message('ham-1', 'Hi Bob, are we still on for lunch tomorrow at noon?\r\nAlice'), ...envelope });
    expect(result).not.toBeNull();
    expect(result!.action).toBe('no action');
    expect(result!.score).toBeLessThan(4);
  });

  it('sends every recipient and the envelope sender (rspamd sees them)', async () => {
    // A mail with many recipients in the envelope but none in To: rspamd scores the envelope.
    const engine = createRspamdEngine({ url: rspamd.url, timeoutMs: 10_000 });
    const raw = Buffer.from(['From: alice@example.org', 'Subject: hello', 'Message-ID: <rcpt-1@example.org>', 'Date: Sun, 6 Dec 2026 12:00:00 +0000', '', 'hello', ''].join('\r\n'));
    const result = await engine.check({ raw, ip: '127.0.0.1', helo: 'mail.example.org', mailFrom: '', rcptTo: ['a@example.com', 'b@example.com'] });
    expect(result).not.toBeNull();
    const names = result!.checks.map((c) => c.result);
    // Undisclosed recipients: no To header while the envelope had recipients.
    expect(names.some((n) => /MISSING_TO|R_UNDISC_RCPT/.test(n))).toBe(true);
  });

  it('answers null when rspamd is not there (the built-in rules decide)', async () => {
    const engine = createRspamdEngine({ url: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2_000 });
    expect(await engine.check({ raw: message('down-1', 'hello'), ...envelope })).toBeNull();
  });
});

describe('rspamd engine: learn', () => {
  const spamText = 'Cheap replica watches and miracle pills, best offer of the year, click now to claim your prize, today only, limited offer for you and your friends';
  const hamText = 'Hi Bob, here are the minutes of the meeting on Tuesday about the garden project, the budget for the new fence and who waters the tomatoes in August.';

  it('learns spam and ham through the controller (its learned count goes up), a repeat is not an error', async () => {
    const engine = createRspamdEngine({ url: rspamd.url, controllerUrl: rspamd.controllerUrl, password: rspamd.password, timeoutMs: 10_000 });
    const before = (await rspamd.stat()).learned;
    const spam = message('learn-1', spamText, 'BEST OFFER');
    await engine.learn('spam', spam);
    expect((await rspamd.stat()).learned).toBe(before + 1);
    await expect(engine.learn('spam', spam)).resolves.toBeUndefined();
    expect((await rspamd.stat()).learned).toBe(before + 1);
    await engine.learn('ham', message('learn-2', hamText));
    expect((await rspamd.stat()).learned).toBe(before + 2);
  });

  it('throws when the controller refuses (wrong password): retryable, the operator can fix it', async () => {
    const engine = createRspamdEngine({ url: rspamd.url, controllerUrl: rspamd.controllerUrl, password: 'wrong', timeoutMs: 10_000 });
    const err = await engine.learn('spam', message('learn-3', 'hello there')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpamLearnError);
    expect((err as SpamLearnError).permanent).toBe(false);
  });

  it('throws a retryable error when the controller cannot be reached', async () => {
    const engine = createRspamdEngine({ url: rspamd.url, controllerUrl: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2_000 });
    const err = await engine.learn('ham', message('learn-4', 'hello there')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpamLearnError);
    expect((err as SpamLearnError).code).toBe('spam.learn_unavailable');
  });
});

describe('parseRspamdReply', () => {
  it('keeps scored symbols, heaviest first, at most 20, with description and options as detail', () => {
    const symbols: Record<string, { name: string; score: number; description: string; options?: string[] }> = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`S${i}`, { name: `S${i}`, score: i % 2 === 0 ? i / 10 : -i / 10, description: `rule ${i}`, options: i === 29 ? ['a', 'b'] : undefined }]),
    );
    symbols.ZERO = { name: 'ZERO', score: 0, description: 'nothing' };
    const explained = Object.values(symbols).reduce((sum, s) => sum + (s.score ?? 0), 0);
    const result = parseRspamdReply({ score: explained, action: 'no action', symbols });
    expect(result.checks).toHaveLength(20);
    expect(result.checks[0]).toEqual({ check: 'rspamd', result: 'S29', score: -2.9, detail: 'rule 29: a, b' });
    expect(result.checks.map((c) => c.result)).not.toContain('ZERO');
    for (let i = 1; i < result.checks.length; i++) expect(Math.abs(result.checks[i - 1]!.score)).toBeGreaterThanOrEqual(Math.abs(result.checks[i]!.score));
  });

  it('names a forced verdict that no scored symbol explains', () => {
    const result = parseRspamdReply({ score: 15, action: 'reject', symbols: { GTUBE: { name: 'GTUBE', score: 0 } }, messages: { smtp_message: 'Gtube pattern' } });
    expect(result.checks).toEqual([{ check: 'rspamd', result: 'GTUBE', score: 15, detail: 'Gtube pattern' }]);
  });

  it('refuses a reply without a score', () => {
    expect(() => parseRspamdReply({ action: 'reject' })).toThrow(/no score/);
  });
});
