/**
 * "Always show images from this sender": the addresses each user trusts, kept in this
 * browser's localStorage for now (not synced between devices; the README says so).
 */
function key(userId: number): string {
  return `mailyard.image-senders.${userId}`;
}

function load(userId: number): string[] {
  try {
    const stored: unknown = JSON.parse(localStorage.getItem(key(userId)) ?? '[]');
    return Array.isArray(stored) ? stored.filter((a): a is string => typeof a === 'string') : [];
  } catch {
    return [];
  }
}

export function trustsImagesFrom(userId: number, address: string): boolean {
  return load(userId).includes(address.toLowerCase());
}

export function trustImagesFrom(userId: number, address: string): void {
  const all = new Set(load(userId));
  all.add(address.toLowerCase());
  try {
    localStorage.setItem(key(userId), JSON.stringify([...all]));
  } catch {
    // no storage: images show for this message only
  }
}
