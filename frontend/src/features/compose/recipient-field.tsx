/**
 * One recipient field (To, Cc or Bcc): chips, typed text committed on Enter, comma, semicolon,
 * Tab or leaving the field, pasted lists split into chips, Backspace on an empty input removes
 * the last chip. A bad address is a red chip with a tooltip. Suggestions come from the user's
 * contacts (GET /api/contacts) as they type; arrows and Enter pick one.
 */
import { useEffect, useId, useState } from 'react';
import type { ContactDto } from '@mailyard/core/contracts';
import { splitRecipients, toChip, type Chip } from './recipients';

export interface RecipientFieldProps {
  label: string;
  chips: Chip[];
  onChange(chips: Chip[]): void;
  suggest(q: string): Promise<ContactDto[]>;
  autoFocus?: boolean;
}

export function RecipientField({ label, chips, onChange, suggest, autoFocus }: RecipientFieldProps) {
  const [text, setText] = useState('');
  const [suggestions, setSuggestions] = useState<ContactDto[]>([]);
  const [active, setActive] = useState(0);
  const id = useId();

  useEffect(() => {
    const q = text.trim();
    if (q.length === 0) {
      setSuggestions([]);
      return;
    }
    let cancelled = false;
    const timer = setTimeout(() => {
      suggest(q).then(
        (found) => {
          if (!cancelled) {
            setSuggestions(found.filter((c) => !chips.some((chip) => chip.address === c.address.toLowerCase())));
            setActive(0);
          }
        },
        () => undefined,
      );
    }, 150);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [text, suggest, chips]);

  const commit = (entries: string[]) => {
    const next = [...chips];
    for (const chip of entries.map(toChip)) if (chip.text.length > 0 && !next.some((c) => c.address === chip.address)) next.push(chip);
    if (next.length > chips.length) onChange(next);
    setText('');
    setSuggestions([]);
  };
  const pick = (c: ContactDto) => commit([c.name ? `${c.name} <${c.address}>` : c.address]);

  return (
    <div className="recipient-field">
      <label htmlFor={id}>{label}</label>
      <ul className="chips" aria-label={`${label} recipients`}>
        {chips.map((chip) => (
          <li key={chip.address} className={chip.valid ? 'chip' : 'chip invalid'} title={chip.valid ? chip.text : `${chip.text} is not a valid address`} aria-invalid={!chip.valid}>
            {chip.text}
            <button type="button" aria-label={`Remove ${chip.text}`} onClick={() => onChange(chips.filter((c) => c !== chip))}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <div className="recipient-input">
        <input
          id={id}
          value={text}
          autoFocus={autoFocus}
          autoComplete="off"
          role="combobox"
          aria-expanded={suggestions.length > 0}
          aria-controls={`${id}-suggestions`}
          onChange={(e) => {
            const value = e.target.value;
            if (/[,;]/.test(value)) commit(splitRecipients(value));
            else setText(value);
          }}
          onPaste={(e) => {
            const pasted = e.clipboardData.getData('text');
            if (/[,;\n]/.test(pasted)) {
              e.preventDefault();
              commit(splitRecipients(text + pasted));
            }
          }}
          onKeyDown={(e) => {
            if (e.key === 'ArrowDown' && suggestions.length > 0) {
              e.preventDefault();
              setActive((a) => (a + 1) % suggestions.length);
            } else if (e.key === 'ArrowUp' && suggestions.length > 0) {
              e.preventDefault();
              setActive((a) => (a - 1 + suggestions.length) % suggestions.length);
            } else if (e.key === 'Enter' && (suggestions[active] || text.trim())) {
              e.preventDefault();
              if (suggestions[active]) pick(suggestions[active]);
              else commit([text]);
            } else if (e.key === 'Tab' && text.trim()) {
              commit([text]);
            } else if (e.key === 'Backspace' && text === '' && chips.length > 0) {
              onChange(chips.slice(0, -1));
            } else if (e.key === 'Escape' && suggestions.length > 0) {
              e.stopPropagation();
              setSuggestions([]);
            }
          }}
          onBlur={() => {
            if (text.trim()) commit([text]);
          }}
        />
        {suggestions.length > 0 && (
          <ul className="suggestions" id={`${id}-suggestions`} role="listbox">
            {suggestions.map((c, i) => (
              <li
                key={c.address}
                role="option"
                aria-selected={i === active}
                onMouseDown={(e) => {
                  e.preventDefault();
                  pick(c);
                }}
              >
                {c.name ? `${c.name} <${c.address}>` : c.address}
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}
