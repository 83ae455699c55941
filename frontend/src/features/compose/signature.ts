/**
 * The user's signature in a new compose window (new mail, replies, forwards): under the usual
 * `-- ` separator line (RFC 3676 §4.3), after two empty lines to write in; the reply's quote, which
 * the server adds, comes after it. No signature, nothing added.
 */
import type { ComposeInitial } from './compose-window';

export function withSignature(initial: ComposeInitial, signature: string): ComposeInitial {
  if (!signature.trim()) return initial;
  return { ...initial, text: `\n\n-- \n${signature}` };
}
