import type { ImapMessageRow } from '@mailyard/core';
import type { ImapSession } from './session.js';

/**
 * Message bytes loaded in batches, one owner-scoped query each (`messages.contents`): FETCH of a
 * range and SEARCH on what the store does not index (HEADER, BCC, SENT*, TEXT) hold one batch at a
 * time, not a message per query nor the whole mailbox.
 */

/** One query loads the bytes of this many messages (and at most about this many bytes). */
export const CONTENT_BATCH = { messages: 32, bytes: 16 * 1024 * 1024 };

/** The ids of the messages from `targets[from]` on that need their bytes, as many as one query loads (by count and stored size). */
export function nextBatch(targets: ReadonlyArray<{ row: ImapMessageRow }>, from: number, needsBytes: (row: ImapMessageRow) => boolean = () => true): number[] {
  const ids: number[] = [];
  let bytes = 0;
  for (let i = from; i < targets.length && ids.length < CONTENT_BATCH.messages; i++) {
    const { row } = targets[i]!;
    if (!needsBytes(row)) continue;
    if (ids.length > 0 && bytes + row.size > CONTENT_BATCH.bytes) break;
    ids.push(row.id);
    bytes += row.size;
  }
  return ids;
}

/** Each of `rows` with its bytes, in order, a batch per query; a message deleted meanwhile is left out. */
export async function* withContents(session: ImapSession, rows: readonly ImapMessageRow[]): AsyncGenerator<{ row: ImapMessageRow; content: Buffer }> {
  const targets = rows.map((row) => ({ row }));
  for (let i = 0; i < targets.length; ) {
    const ids = nextBatch(targets, i);
    const loaded = await session.services.messages.contents(session.userId, ids);
    for (const row of rows.slice(i, i + ids.length)) {
      const content = loaded.get(row.id);
      if (content) yield { row, content };
    }
    i += ids.length;
  }
}
