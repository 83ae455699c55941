/**
 * "Blocked and allowed senders" (GET/POST/DELETE /api/filters/senders): the user's own lists,
 * which override the spam filter. The table shows each entry (blocked or allowed, the address or
 * domain, when it was added) with Remove; the form adds an address or a whole domain to either
 * list (an entry already listed switches lists), and shows the server's words when it refuses
 * one. After adding, focus returns to the field; after removing, to the next entry's Remove
 * button, else to the field.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { SenderRuleBody, SenderRuleDto, SenderRuleResponse, SenderRulesResponse } from '@mailyard/core/contracts';
import { fullDate } from '../mail/format';
import { describeError } from './describe-error';
import { ErrorBlock } from '../../app/error-block';

export interface SenderListsClient {
  senderRules(): Promise<SenderRulesResponse>;
  addSenderRule(body: SenderRuleBody): Promise<SenderRuleResponse>;
  removeSenderRule(id: number): Promise<void>;
}

type List = { state: 'loading' } | { state: 'failed'; message: string } | { state: 'ready'; items: SenderRuleDto[] };

const kindWords = { block: 'Blocked', allow: 'Allowed' } as const;

export function SenderLists({ client }: { client: SenderListsClient }) {
  const [list, setList] = useState<List>({ state: 'loading' });
  const [pattern, setPattern] = useState('');
  const [kind, setKind] = useState<'block' | 'allow'>('block');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const field = useRef<HTMLInputElement>(null);
  const table = useRef<HTMLTableSectionElement>(null);

  const load = () =>
    client.senderRules().then(
      ({ senders }) => setList({ state: 'ready', items: senders }),
      (err: unknown) => setList({ state: 'failed', message: describeError(err) }),
    );
  useEffect(() => {
    void load();
    // once, when the section opens
  }, []);

  // After a removal: the row that took its place, else the one before, else the field.
  const focusRow = useRef<number | null>(null);
  useEffect(() => {
    if (focusRow.current === null) return;
    const buttons = table.current?.querySelectorAll<HTMLButtonElement>('button') ?? [];
    (buttons[Math.min(focusRow.current, buttons.length - 1)] ?? field.current)?.focus();
    focusRow.current = null;
  }, [list]);

  async function add(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const { sender } = await client.addSenderRule({ kind, pattern });
      setList((l) => (l.state === 'ready' ? { state: 'ready', items: [sender, ...l.items.filter((i) => i.id !== sender.id && i.pattern !== sender.pattern)] } : l));
      setPattern('');
      setDone(`${sender.pattern} is ${sender.kind === 'block' ? 'blocked: its mail goes to Junk' : 'allowed: its mail goes to the Inbox'}.`);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
      field.current?.focus();
    }
  }

  async function remove(item: SenderRuleDto, index: number) {
    setError(null);
    setDone(null);
    try {
      await client.removeSenderRule(item.id);
      setList((l) => (l.state === 'ready' ? { state: 'ready', items: l.items.filter((i) => i.id !== item.id) } : l));
      setDone(`${item.pattern} was removed from your ${item.kind === 'block' ? 'blocked' : 'allowed'} senders.`);
      focusRow.current = index;
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <section className="settings-form" aria-labelledby="senders-title">
      <h2 id="senders-title">Blocked and allowed senders</h2>
      <p className="muted">
        Mail from a blocked sender always goes to Junk; mail from an allowed sender always comes to your Inbox, whatever the spam filter thinks. A domain (<code>example.com</code>)
        covers every address at it and at its subdomains.
      </p>
      {list.state === 'loading' && <p className="muted">Loading…</p>}
      {list.state === 'failed' && <ErrorBlock message={list.message} onRetry={() => void load()} />}
      {list.state === 'ready' &&
        (list.items.length === 0 ? (
          <p className="muted">No blocked or allowed senders yet.</p>
        ) : (
          <table className="app-passwords sender-rules" aria-labelledby="senders-title">
            <thead>
              <tr>
                <th scope="col">List</th>
                <th scope="col">Address or domain</th>
                <th scope="col">Added</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody ref={table}>
              {list.items.map((item, index) => (
                <tr key={item.id}>
                  <td>
                    <span className={`rule-kind rule-${item.kind}`}>{kindWords[item.kind]}</span>
                  </td>
                  <td className="rule-pattern">{item.pattern}</td>
                  <td>
                    <time dateTime={item.createdAt}>{fullDate(item.createdAt)}</time>
                  </td>
                  <td>
                    <button type="button" onClick={() => void remove(item, index)} aria-label={`Remove ${item.pattern}`}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      <form onSubmit={add} className="sender-form">
        <label>
          Address or domain
          <input ref={field} required maxLength={320} placeholder="news@example.com or example.com" value={pattern} onChange={(e) => setPattern(e.target.value)} />
        </label>
        <label>
          List
          <select value={kind} onChange={(e) => setKind(e.target.value as 'block' | 'allow')}>
            <option value="block">Block: always to Junk</option>
            <option value="allow">Allow: always to the Inbox</option>
          </select>
        </label>
        <button type="submit" className="primary" disabled={busy}>
          Add
        </button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {done && (
        <p className="notice" role="status">
          {done}
        </p>
      )}
    </section>
  );
}
