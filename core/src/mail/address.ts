import { AppError } from '../errors.js';

/**
 * Mail addresses as the store keeps them: lower-cased, trimmed, `local@domain`.
 * Internationalised (SMTPUTF8) local parts and domains are kept as UTF-8.
 */

// Deliberately permissive about the local part (RFC 5321 allows a lot, and real mail uses it),
// strict about structure: one @, no spaces or angle brackets, a domain made of labels.
const LOCAL = /^[^\s@<>()[\],;:"\\]{1,64}$/u;
const LABEL = /^(?!-)[\p{L}\p{N}-]{1,63}(?<!-)$/u;

export interface ParsedAddress {
  address: string;
  local: string;
  domain: string;
}

export function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/\.$/, '');
}

export function isValidDomain(domain: string): boolean {
  const d = normalizeDomain(domain);
  if (d.length === 0 || d.length > 253) return false;
  const labels = d.split('.');
  return labels.length >= 2 && labels.every((l) => LABEL.test(l));
}

/** Parses an address or returns null when it is not one. */
export function parseAddress(input: string): ParsedAddress | null {
  const value = input.trim().toLowerCase();
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) return null;
  const local = value.slice(0, at);
  const domain = normalizeDomain(value.slice(at + 1));
  if (!LOCAL.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return null;
  if (!isValidDomain(domain)) return null;
  return { address: `${local}@${domain}`, local, domain };
}

/** The domain of an address as the store keeps it (`local@domain`), lower-cased. */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** Like parseAddress but throws a clear, coded error. */
export function requireAddress(input: string): ParsedAddress {
  const parsed = parseAddress(input);
  if (!parsed) throw new AppError('address.invalid', `"${input}" is not a valid mail address (expected local@domain.tld)`);
  return parsed;
}

/** `user+tag@example.com` -> `user@example.com`; null when there is no tag. */
export function stripPlusTag(parsed: ParsedAddress): ParsedAddress | null {
  const plus = parsed.local.indexOf('+');
  if (plus <= 0) return null;
  const local = parsed.local.slice(0, plus);
  return { address: `${local}@${parsed.domain}`, local, domain: parsed.domain };
}

/** An alias address: an ordinary `local@domain`, or `@domain` for the domain's catch-all. */
export interface AliasAddress {
  address: string;
  domain: string;
  catchAll: boolean;
}

/** The catch-all alias address of a domain: `@example.com`. */
export function catchAllAddress(domain: string): string {
  return `@${normalizeDomain(domain)}`;
}

/** Parses an alias address (`local@domain` or the catch-all `@domain`); null when it is neither. */
export function parseAliasAddress(input: string): AliasAddress | null {
  const value = input.trim().toLowerCase();
  if (value.startsWith('@')) {
    const domain = normalizeDomain(value.slice(1));
    return isValidDomain(domain) ? { address: catchAllAddress(domain), domain, catchAll: true } : null;
  }
  const parsed = parseAddress(value);
  return parsed ? { address: parsed.address, domain: parsed.domain, catchAll: false } : null;
}

/** Like parseAliasAddress but throws a clear, coded error. */
export function requireAliasAddress(input: string): AliasAddress {
  const parsed = parseAliasAddress(input);
  if (!parsed) throw new AppError('address.invalid', `"${input}" is not a valid alias address (expected local@domain.tld, or @domain.tld for a catch-all)`);
  return parsed;
}
