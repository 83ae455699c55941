/**
 * Case-insensitive matching where the database folds only ASCII: the case forms a value is
 * matched in. Pure; the search and contact repositories use it.
 */

/**
 * The forms a value is matched in (as typed, lower, UPPER, Capitalised, Title Case), so that case
 * does not matter even where the database lower-cases only ASCII (the C locale).
 */
export function caseVariants(value: string): string[] {
  const lower = value.toLowerCase();
  const capitalise = (w: string) => (w === '' ? w : w[0]!.toUpperCase() + w.slice(1));
  const title = lower.split(/(\s+)/).map(capitalise).join('');
  return [...new Set([value, lower, value.toUpperCase(), capitalise(lower), title])];
}

/** ASCII letters lower-cased, everything else as is: what every PostgreSQL locale, the C locale included, folds. */
export const foldAsciiCase = (value: string): string => value.replace(/[A-Z]+/g, (s) => s.toLowerCase());

/**
 * caseVariants() without the forms that differ only in ASCII case: the database folds those
 * itself (to_tsvector/to_tsquery lower-case ASCII, ILIKE ignores its case), so they would only
 * repeat an operand. "meeting" needs one form; "привет" still needs its three under the C locale.
 * (Not so under a Turkish locale, where lower('I') is 'ı'; Mailyard's databases are C or en_US.)
 */
export function databaseCaseVariants(value: string): string[] {
  const seen = new Set<string>();
  return caseVariants(value).filter((v) => {
    const key = foldAsciiCase(v);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
