/**
 * Threading keys. Messages join a thread by Message-ID references first (References and
 * In-Reply-To), and only then by normalized subject, and only for messages that look like a
 * reply or forward: two unrelated mails both titled "Hello" must not become one conversation.
 */

const PREFIX = /^\s*(?:(?:re|fwd?|aw|wg|sv|vs|antw|rif|r|tr|enc|odp|res|ynt|atb)\s*(?:\[\d+\])?\s*[:：]\s*|\[[^\]]{1,40}\]\s*)/iu;

/** "Re: [list] Fwd:  Hello  world" -> "hello world" */
export function normalizeSubject(subject: string): string {
  let s = subject.replace(/\s+/g, ' ').trim();
  for (let i = 0; i < 20; i++) {
    const next = s.replace(PREFIX, '');
    if (next === s) break;
    s = next.trim();
  }
  return s.replace(/\s*\((?:fwd|fw)\)\s*$/i, '').toLowerCase();
}

/** True when the subject carries a reply/forward prefix such as Re:, Fwd:, AW:, SV:. */
export function isReplySubject(subject: string): boolean {
  return /^\s*(?:\[[^\]]{1,40}\]\s*)*(?:re|fwd?|aw|wg|sv|vs|antw|rif|r|tr|enc|odp|res|ynt|atb)\s*(?:\[\d+\])?\s*[:：]/iu.test(subject);
}

const MSGID = /<([^<>\s]{1,998})>/g;

/** Extracts `<id>` tokens from a References/In-Reply-To value, normalised to "<id>". */
export function extractMessageIds(value: string | string[] | undefined | null): string[] {
  if (!value) return [];
  const text = Array.isArray(value) ? value.join(' ') : value;
  const ids: string[] = [];
  for (const match of text.matchAll(MSGID)) ids.push(`<${match[1]}>`);
  if (ids.length === 0) {
    // Some clients omit the angle brackets; accept bare tokens that look like ids.
    for (const token of text.split(/\s+/)) if (/^[^\s@]+@[^\s@]+$/.test(token)) ids.push(`<${token}>`);
  }
  return [...new Set(ids)];
}
