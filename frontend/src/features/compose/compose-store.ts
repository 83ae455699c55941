/**
 * How the rest of the app asks for a compose window, without knowing the dock: `openCompose`
 * (the Compose button, the reader's Reply / Reply all / Forward) and the message the reader shows
 * (`setReplyTarget`), which the r / a / f keys answer. The dock (compose-dock.tsx) subscribes.
 */
import type { SendBody } from '@mailyard/core/contracts';

export type ComposeRequest =
  | { kind: 'new' }
  | { kind: 'reply' | 'replyAll' | 'forward'; messageId: number }
  /** A held send that was undone, or a draft: its fields as composed. */
  | { kind: 'restore'; message: Omit<SendBody, 'sendAt'> };

type Listener = (request: ComposeRequest) => void;
const listeners = new Set<Listener>();
let replyTarget: number | null = null;

export function openCompose(request: ComposeRequest): void {
  for (const listener of listeners) listener(request);
}

export function onComposeRequest(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The message open in the reader (null when none): what r / a / f reply to. */
export function setReplyTarget(messageId: number | null): void {
  replyTarget = messageId;
}

/** A reader that closes clears the target only if it is still its message. */
export function clearReplyTarget(messageId: number): void {
  if (replyTarget === messageId) replyTarget = null;
}

export function currentReplyTarget(): number | null {
  return replyTarget;
}
