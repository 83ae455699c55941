import type { FilterCheckJson } from '../../db/schema.js';

/**
 * The seam between the spam decision (core/src/mail/spam/, issue 11) and an external scoring
 * engine such as rspamd (`rspamd.ts`). The decision works without one (built-in rules); when one
 * is configured it scores each message and is taught by the user's moves into and out of Junk.
 */

/** What the engine is told about a received message besides its bytes. */
export interface SpamEngineInput {
  raw: Buffer;
  /** The client's address. */
  ip: string;
  helo: string | null;
  /** The envelope sender; '' for the null sender. */
  mailFrom: string;
  rcptTo: readonly string[];
}

/** The engine's opinion: its total score and the symbols behind it, as checks the user can read. */
export interface SpamEngineResult {
  score: number;
  /** The engine's own action name (rspamd: `no action`, `add header`, `reject`…), for logs. */
  action: string;
  checks: FilterCheckJson[];
}

export interface SpamEngine {
  readonly name: 'rspamd';
  /** Scores one message; null when the engine could not answer (down, timed out): the built-in rules decide then. */
  check(input: SpamEngineInput): Promise<SpamEngineResult | null>;
  /** Teaches it that a message is spam or ham. Throws when the engine refused or could not be reached (the caller retries). */
  learn(kind: 'spam' | 'ham', raw: Buffer): Promise<void>;
}
