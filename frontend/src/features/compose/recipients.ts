/**
 * Recipients as the compose window holds them: chips of `Name <addr@domain>` or `addr@domain`,
 * checked the way the server checks them (one @, a dot in the domain, no spaces) so a bad one
 * turns red before sending. Replies and forwards get their recipients and subject here.
 */
import type { MessageDetailDto } from '@mailyard/core/contracts';

export interface Chip {
  text: string;
  address: string;
  valid: boolean;
}

const ADDRESS = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;

export function toChip(text: string): Chip {
  const trimmed = text.trim();
  const angle = /<([^<>]*)>\s*$/.exec(trimmed);
  const address = (angle ? angle[1]! : trimmed).trim();
  return { text: trimmed, address: address.toLowerCase(), valid: ADDRESS.test(address) };
}

/** Splits pasted or typed text into entries (commas, semicolons, new lines), keeping "Name <a@b>" whole. */
export function splitRecipients(text: string): string[] {
  return text
    .split(/[,;\n]+(?=(?:[^"]*"[^"]*")*[^"]*$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function format(a: { name: string; address: string }): string {
  return a.name ? `${a.name} <${a.address}>` : a.address;
}

function prefixed(prefix: string, subject: string): string {
  return new RegExp(`^${prefix}:`, 'i').test(subject) ? subject : `${prefix}: ${subject}`;
}

/** To, Cc and subject of a reply (to the sender), a reply to all (minus me, and entries with no address to write to), or a forward (nobody yet). */
export function answerFields(kind: 'reply' | 'replyAll' | 'forward', original: MessageDetailDto, me: string) {
  const mine = me.toLowerCase();
  if (kind === 'forward') return { to: [], cc: [], subject: prefixed('Fwd', original.subject) };
  const to = original.from.map(format);
  if (kind === 'reply') return { to, cc: [], subject: prefixed('Re', original.subject) };
  const seen = new Set([mine, ...original.from.map((a) => a.address.toLowerCase())]);
  const others = (list: Array<{ name: string; address: string }>) =>
    list.filter((a) => {
      const key = a.address.toLowerCase();
      if (key === '' || seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  return { to: [...to, ...others(original.to).map(format)], cc: others(original.cc).map(format), subject: prefixed('Re', original.subject) };
}
