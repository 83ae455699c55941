/**
 * Recent searches, per user, in this browser's localStorage (newest first, no repeats, at most
 * RECENT_MAX). Storage that is full or switched off just means no history.
 */
export const RECENT_MAX = 8;

function key(userId: number): string {
  return `mailyard.recent-searches.${userId}`;
}

export function loadRecent(userId: number): string[] {
  try {
    const stored: unknown = JSON.parse(localStorage.getItem(key(userId)) ?? '[]');
    return Array.isArray(stored) ? stored.filter((q): q is string => typeof q === 'string').slice(0, RECENT_MAX) : [];
  } catch {
    return [];
  }
}

/** Puts `query` first and returns the new list. */
export function rememberSearch(userId: number, query: string): string[] {
  const recent = [query, ...loadRecent(userId).filter((q) => q !== query)].slice(0, RECENT_MAX);
  try {
    localStorage.setItem(key(userId), JSON.stringify(recent));
  } catch {
    // no storage: the list lives until the page closes
  }
  return recent;
}

export function forgetSearches(userId: number): void {
  try {
    localStorage.removeItem(key(userId));
  } catch {
    // nothing stored
  }
}
