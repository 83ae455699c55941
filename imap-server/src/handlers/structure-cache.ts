import { WeightedLru } from '@mailyard/core';
import type { MimeMessage } from '../protocol/message/index.js';

/**
 * FETCH ENVELOPE, BODY and BODYSTRUCTURE answers by message id, one cache per listener (its
 * sessions share it). A stored
 * message's bytes never change (a copy or an APPEND is a new id), so an entry is never stale; the
 * cache is bounded by count and drops the least recently used. Clients ask for these for every
 * message they list, again and again: from here they cost neither a load of the bytes nor a parse
 * (Dovecot answers them from its index cache likewise). Only rows of the session's own selected
 * mailbox are ever looked up, so one user never reads another's entries.
 */

export interface MessageStructure {
  envelope: string;
  /** BODYSTRUCTURE (extended). */
  bodyStructure: string;
  /** BODY (not extended). */
  body: string;
}

export class StructureCache {
  private readonly entries: WeightedLru<number, MessageStructure>;

  constructor(maxEntries = 20_000) {
    this.entries = new WeightedLru(maxEntries, () => 1);
  }

  get(messageId: number): MessageStructure | undefined {
    return this.entries.get(messageId);
  }

  /** Computes, keeps and returns the structure of a parsed message. */
  remember(messageId: number, mime: MimeMessage): MessageStructure {
    const structure = { envelope: mime.envelope(), bodyStructure: mime.bodyStructure(true), body: mime.bodyStructure(false) };
    this.entries.set(messageId, structure);
    return structure;
  }

  get size(): number {
    return this.entries.size;
  }
}
