/**
 * The IMAP connection caps as slots: one per client IP, taken when a connection arrives
 * (IMAP_MAX_CONNECTIONS_PER_IP), and one per user, taken at sign-in (IMAP_MAX_CONNECTIONS_PER_USER).
 * One process counts in its own memory (`createLocalSlots`); the processes of IMAP_PROCESSES ask
 * their cluster primary, which holds the counts for the whole service (cluster.ts).
 */

export type SlotKind = 'ip' | 'user';

export interface ConnectionSlots {
  /** Takes a slot of `kind` for `key`; false when the cap is reached. */
  acquire(kind: SlotKind, key: string): boolean | Promise<boolean>;
  /** Gives back a slot taken with `acquire`. */
  release(kind: SlotKind, key: string): void;
}

export interface SlotLimits {
  ip: number;
  user: number;
}

/** Counts per key with a cap. */
function createCounter(max: number) {
  const counts = new Map<string, number>();
  return {
    acquire(key: string): boolean {
      const n = counts.get(key) ?? 0;
      if (n >= max) return false;
      counts.set(key, n + 1);
      return true;
    },
    release(key: string): void {
      const n = (counts.get(key) ?? 0) - 1;
      if (n <= 0) counts.delete(key);
      else counts.set(key, n);
    },
  };
}

/** The slots of one process, counted in its memory. */
export function createLocalSlots(limits: SlotLimits): { acquire(kind: SlotKind, key: string): boolean; release(kind: SlotKind, key: string): void } {
  const counters = { ip: createCounter(limits.ip), user: createCounter(limits.user) };
  return {
    acquire: (kind, key) => counters[kind].acquire(key),
    release: (kind, key) => counters[kind].release(key),
  };
}
