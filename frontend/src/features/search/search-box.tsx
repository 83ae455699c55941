/**
 * The search box in the top bar. Enter runs the query (the API's operators: from:, to:,
 * subject:, has:attachment, is:unread, in:, before:/after:, "phrases"); while it is focused and
 * empty it offers the user's recent searches and a reminder of the operators. Escape leaves it;
 * the clear button goes back to the folder. The placeholder reminds of the `/` key only where
 * there is a keyboard.
 */
import { useEffect, useState, useSyncExternalStore, type FormEvent, type RefObject } from 'react';
import { forgetSearches, loadRecent, rememberSearch } from './recent-searches';

export interface SearchBoxProps {
  userId: number;
  /** The search being shown, if any. */
  active: string | null;
  inputRef: RefObject<HTMLInputElement | null>;
  onSearch(query: string): void;
  onClear(): void;
}

/** Phones and touch screens: no keyboard to press `/` on, so the placeholder does not mention it. */
const NO_KEYBOARD = ['(max-width: 640px)', '(pointer: coarse)'];

function useNoKeyboard(): boolean {
  return useSyncExternalStore(
    (changed) => {
      const queries = NO_KEYBOARD.map((q) => window.matchMedia(q));
      for (const query of queries) query.addEventListener('change', changed);
      return () => queries.forEach((query) => query.removeEventListener('change', changed));
    },
    () => NO_KEYBOARD.some((q) => window.matchMedia(q).matches),
  );
}

const OPERATORS = ['from:', 'to:', 'subject:', 'has:attachment', 'is:unread', 'in:', 'before:2024-01-31', 'after:', '"a phrase"'];

export function SearchBox({ userId, active, inputRef, onSearch, onClear }: SearchBoxProps) {
  const [text, setText] = useState(active ?? '');
  const [focused, setFocused] = useState(false);
  const [recent, setRecent] = useState(() => loadRecent(userId));
  const noKeyboard = useNoKeyboard();
  // Leaving the results (a folder was chosen) empties the box.
  useEffect(() => {
    if (active === null) setText('');
  }, [active]);

  const run = (query: string) => {
    const q = query.trim();
    if (!q) return;
    setText(q);
    setRecent(rememberSearch(userId, q));
    onSearch(q);
    setFocused(false);
    inputRef.current?.blur();
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    run(text);
  };

  return (
    <form
      className="search"
      role="search"
      onSubmit={submit}
      onFocus={() => setFocused(true)}
      onBlur={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setFocused(false);
      }}
    >
      <label>
        <span className="visually-hidden">Search mail</span>
        <input
          ref={inputRef}
          type="search"
          value={text}
          placeholder={noKeyboard ? 'Search mail' : 'Search mail  ( / )'}
          aria-describedby="search-help"
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape') inputRef.current?.blur();
          }}
        />
      </label>
      {active !== null && (
        <button
          type="button"
          aria-label="Clear the search"
          onClick={() => {
            setText('');
            onClear();
          }}
        >
          ✕
        </button>
      )}
      <div className="search-panel" hidden={!focused || text !== ''} onMouseDown={(e) => e.preventDefault()}>
        {recent.length > 0 && (
          <>
            <h2>Recent searches</h2>
            <ul aria-label="Recent searches">
              {recent.map((q) => (
                <li key={q}>
                  <button type="button" onClick={() => run(q)}>
                    {q}
                  </button>
                </li>
              ))}
            </ul>
            <button
              type="button"
              className="link"
              onClick={() => {
                forgetSearches(userId);
                setRecent([]);
              }}
            >
              Clear recent searches
            </button>
          </>
        )}
        <p id="search-help" className="muted">
          Operators:{' '}
          {OPERATORS.map((op) => (
            <code key={op}>{op}</code>
          ))}
        </p>
      </div>
    </form>
  );
}
