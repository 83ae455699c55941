import { sql } from 'kysely';
import { type DbOrTx, PREPARED } from '../db/client.js';
import type { AddressJson } from '../db/schema.js';
import { caseVariants } from '../util/case-variants.js';

/**
 * The people a user hears from and writes to, for recipient suggestions. Counts are upserted in
 * the caller's transaction (ingest for mail filed into the Inbox, sending for recipients). The
 * user's own address and their aliases are never recorded. The latest non-empty display name wins.
 */

export interface Contact {
  address: string;
  name: string;
  sentCount: number;
  receivedCount: number;
  lastAt: Date;
}

/** At most this many addresses are recorded per message (a huge Cc list is not an address book). */
const MAX_PER_MESSAGE = 100;

/** One entry per address (lower-cased), keeping the last non-empty name; bad addresses dropped. */
function normalize(people: AddressJson[]): Array<{ address: string; name: string }> {
  const byAddress = new Map<string, string>();
  for (const p of people) {
    const address = (p.address ?? '').trim().toLowerCase();
    if (address.length < 3 || address.length > 320 || !/^[^\s@]+@[^\s@]+$/u.test(address)) continue;
    // eslint-disable-next-line no-control-regex
    const name = (p.name ?? '').replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, 200);
    const previous = byAddress.get(address);
    byAddress.set(address, name !== '' ? name : (previous ?? ''));
  }
  return [...byAddress].slice(0, MAX_PER_MESSAGE).map(([address, name]) => ({ address, name }));
}

/** Entries of several messages merged: per address, how many messages name it, and the last non-empty name. */
function merge(messages: AddressJson[][]): Array<{ address: string; name: string; count: number }> {
  const merged = new Map<string, { name: string; count: number }>();
  for (const people of messages) {
    for (const e of normalize(people)) {
      const previous = merged.get(e.address);
      merged.set(e.address, { name: e.name !== '' ? e.name : (previous?.name ?? ''), count: (previous?.count ?? 0) + 1 });
    }
  }
  return [...merged].map(([address, v]) => ({ address, ...v }));
}

export function createContactRepository(db: DbOrTx) {
  /** Upserts the addresses of each user's messages, all users in one statement. */
  async function record(parts: ReadonlyArray<{ userId: number; messages: AddressJson[][] }>, column: 'sent_count' | 'received_count'): Promise<void> {
    const entries = parts.flatMap((p) => merge(p.messages).map((e) => ({ userId: p.userId, ...e })));
    if (entries.length === 0) return;
    const counter = sql.ref(`contacts.${column}`);
    await sql`${PREPARED}
      INSERT INTO contacts (user_id, address, name, ${sql.ref(column)}, last_at)
      SELECT e.user_id, e.address, e.name, e.n, now()
      FROM unnest(${entries.map((e) => e.userId)}::bigint[], ${entries.map((e) => e.address)}::text[], ${entries.map((e) => e.name)}::text[], ${entries.map((e) => e.count)}::int[]) AS e(user_id, address, name, n)
      WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = e.user_id AND u.address = e.address)
        AND NOT EXISTS (SELECT 1 FROM aliases a WHERE a.target_user_id = e.user_id AND a.address = e.address)
      ON CONFLICT (user_id, address) DO UPDATE SET
        ${sql.ref(column)} = ${counter} + EXCLUDED.${sql.ref(column)},
        name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE contacts.name END,
        last_at = GREATEST(contacts.last_at, EXCLUDED.last_at)
    `.execute(db);
  }

  return {
    /** The senders of a message filed into the user's Inbox. */
    recordReceived(userId: number, from: AddressJson[]): Promise<void> {
      return record([{ userId, messages: [from] }], 'received_count');
    },
    /** The senders of messages filed into several users' Inboxes, in one statement (ingest batches). */
    recordReceivedMany(parts: ReadonlyArray<{ userId: number; senders: AddressJson[][] }>): Promise<void> {
      return record(parts.map((p) => ({ userId: p.userId, messages: p.senders })), 'received_count');
    },
    /** The recipients (To, Cc, Bcc) of a message the user sent. */
    recordSent(userId: number, recipients: AddressJson[]): Promise<void> {
      return record([{ userId, messages: [recipients] }], 'sent_count');
    },
    /**
     * Contacts whose address, or a word of whose name, starts with `prefix` (any case), best first:
     * score = 2 × sent + received (people you write to count double), then the most recent.
     * An empty prefix lists the top contacts.
     */
    async suggest(userId: number, prefix: string, limit: number): Promise<Contact[]> {
      const p = prefix.trim();
      const escaped = (v: string) => v.replace(/[\\%_]/g, (c) => `\\${c}`);
      let q = db
        .selectFrom('contacts')
        .select(['address', 'name', 'sent_count', 'received_count', 'last_at'])
        .where('user_id', '=', userId);
      if (p !== '') {
        const variants = caseVariants(p).map(escaped);
        const addressPatterns = [`${escaped(p.toLowerCase())}%`];
        const namePatterns = variants.flatMap((v) => [`${v}%`, `% ${v}%`]);
        q = q.where(sql<boolean>`(address LIKE ANY(${addressPatterns}::text[]) OR name ILIKE ANY(${namePatterns}::text[]))`);
      }
      const rows = await q
        .orderBy(sql`sent_count * 2 + received_count`, 'desc')
        .orderBy('last_at', 'desc')
        .orderBy('address')
        .limit(limit)
        .execute();
      return rows.map((r) => ({ address: r.address, name: r.name, sentCount: r.sent_count, receivedCount: r.received_count, lastAt: r.last_at }));
    },
  };
}
export type ContactRepository = ReturnType<typeof createContactRepository>;
