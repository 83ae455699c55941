/**
 * The keyboard shortcuts: one table that both the key handler (mail-app.tsx) and the `?` overlay
 * read, so what the overlay lists is what the keys do. `keyOf` names a key press the way the
 * table does ("Shift+I", "#", "g i" for the two-key sequences). Compose owns c/r/a/f: they are
 * listed here but handled by compose.
 */
import { useEffect, useRef } from 'react';

export type ShortcutCommand =
  | 'search'
  | 'next'
  | 'previous'
  | 'open'
  | 'back'
  | 'archive'
  | 'delete'
  | 'star'
  | 'select'
  | 'markRead'
  | 'markUnread'
  | 'goInbox'
  | 'help'
  | 'compose'
  | 'reply'
  | 'replyAll'
  | 'forward';

export interface Shortcut {
  keys: string[];
  command: ShortcutCommand;
  description: string;
  /** Handled elsewhere (compose); listed for the overlay only. */
  external?: boolean;
}

export const shortcuts: Shortcut[] = [
  { keys: ['c'], command: 'compose', description: 'Compose a new message', external: true },
  { keys: ['/'], command: 'search', description: 'Search' },
  { keys: ['j'], command: 'next', description: 'Next message' },
  { keys: ['k'], command: 'previous', description: 'Previous message' },
  { keys: ['o', 'Enter'], command: 'open', description: 'Open the message' },
  { keys: ['u'], command: 'back', description: 'Back to the list' },
  { keys: ['x'], command: 'select', description: 'Select or unselect the message' },
  { keys: ['e'], command: 'archive', description: 'Archive' },
  { keys: ['#'], command: 'delete', description: 'Delete (move to Trash)' },
  { keys: ['s'], command: 'star', description: 'Star or unstar' },
  { keys: ['Shift+I'], command: 'markRead', description: 'Mark read' },
  { keys: ['Shift+U'], command: 'markUnread', description: 'Mark unread' },
  { keys: ['r'], command: 'reply', description: 'Reply', external: true },
  { keys: ['a'], command: 'replyAll', description: 'Reply all', external: true },
  { keys: ['f'], command: 'forward', description: 'Forward', external: true },
  { keys: ['g i'], command: 'goInbox', description: 'Go to the Inbox' },
  { keys: ['?'], command: 'help', description: 'Show these shortcuts' },
];

/** How the table names this key press; null for keys it never names (modifiers, Ctrl/Alt/Meta chords). */
export function keyOf(e: Pick<KeyboardEvent, 'key' | 'shiftKey' | 'ctrlKey' | 'metaKey' | 'altKey'>): string | null {
  if (e.ctrlKey || e.metaKey || e.altKey || e.key.length === 0 || e.key === 'Shift') return null;
  if (e.shiftKey && /^[a-z]$/i.test(e.key)) return `Shift+${e.key.toUpperCase()}`;
  return e.key;
}

/**
 * The command for a key press, given the key pressed just before (for "g i"). Returns
 * `pending` when the key starts a sequence.
 */
export function commandFor(key: string, previous: string | null): ShortcutCommand | 'pending' | null {
  const sequence = previous !== null ? shortcuts.find((s) => !s.external && s.keys.includes(`${previous} ${key}`)) : undefined;
  if (sequence) return sequence.command;
  if (shortcuts.some((s) => s.keys.some((k) => k.startsWith(`${key} `)))) return 'pending';
  return shortcuts.find((s) => !s.external && s.keys.includes(key))?.command ?? null;
}

/** The `?` overlay: every shortcut, in a dialog that Escape or its button closes. */
export function ShortcutsOverlay({ onClose }: { onClose(): void }) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => close.current?.focus(), []);
  return (
    <div className="dialog-backdrop" onClick={onClose}>
      <div
        className="dialog shortcuts"
        role="dialog"
        aria-modal="true"
        aria-labelledby="shortcuts-title"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          if (e.key !== 'Escape' && e.key !== '?') return;
          e.preventDefault();
          e.stopPropagation();
          onClose();
        }}
      >
        <h2 id="shortcuts-title">Keyboard shortcuts</h2>
        <dl>
          {shortcuts.map((s) => (
            <div key={s.command} className="shortcut">
              <dt>
                {s.keys.map((k, i) => (
                  <span key={k}>
                    {i > 0 && ' or '}
                    <kbd>{k}</kbd>
                  </span>
                ))}
              </dt>
              <dd>{s.description}</dd>
            </div>
          ))}
        </dl>
        <div className="dialog-actions">
          <button ref={close} type="button" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
    </div>
  );
}
