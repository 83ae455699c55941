/**
 * App passwords, for IMAP and SMTP clients: the list (name, created, last used) with Revoke, and
 * a form that creates one with a label and the account password (the API asks for it again). The
 * new password is shown once, with a copy button.
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { AppPasswordCreateBody, AppPasswordCreated, AppPasswordDto, AppPasswordListResponse } from '@mailyard/core/contracts';
import { fullDate } from '../mail/format';
import { describeError } from './describe-error';
import { ErrorBlock } from '../../app/error-block';

export interface AppPasswordClient {
  appPasswords(): Promise<AppPasswordListResponse>;
  createAppPassword(body: AppPasswordCreateBody): Promise<AppPasswordCreated>;
  revokeAppPassword(id: number): Promise<void>;
}

type List = { state: 'loading' } | { state: 'failed'; message: string } | { state: 'ready'; items: AppPasswordDto[] };

export function AppPasswords({ client }: { client: AppPasswordClient }) {
  const [list, setList] = useState<List>({ state: 'loading' });
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<AppPasswordCreated | null>(null);
  const [copied, setCopied] = useState(false);

  const load = () =>
    client.appPasswords().then(
      ({ appPasswords }) => setList({ state: 'ready', items: appPasswords }),
      (err: unknown) => setList({ state: 'failed', message: describeError(err) }),
    );
  useEffect(() => {
    void load();
    // once, when the section opens
  }, []);

  async function create(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await client.createAppPassword({ name: name.trim(), password });
      setCreated(answer);
      setCopied(false);
      setName('');
      setPassword('');
      await load();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  async function revoke(item: AppPasswordDto) {
    setError(null);
    try {
      await client.revokeAppPassword(item.id);
      if (created?.id === item.id) setCreated(null);
      setList((l) => (l.state === 'ready' ? { state: 'ready', items: l.items.filter((i) => i.id !== item.id) } : l));
    } catch (err) {
      setError(describeError(err));
    }
  }

  const copy = (text: string) =>
    navigator.clipboard.writeText(text).then(
      () => setCopied(true),
      () => setError('Copying did not work here. Select the password and copy it by hand.'),
    );

  return (
    <section className="settings-form" aria-labelledby="app-passwords-title">
      <h2 id="app-passwords-title">App passwords</h2>
      <p className="muted">Mail apps (IMAP and SMTP) sign in with an app password of their own instead of your password. Changing your password revokes them all.</p>
      {list.state === 'loading' && <p className="muted">Loading…</p>}
      {list.state === 'failed' && <ErrorBlock message={list.message} onRetry={() => void load()} />}
      {list.state === 'ready' &&
        (list.items.length === 0 ? (
          <p className="muted">No app passwords yet.</p>
        ) : (
          <table className="app-passwords">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((item) => (
                <tr key={item.id}>
                  <td>{item.name}</td>
                  <td>
                    <time dateTime={item.createdAt}>{fullDate(item.createdAt)}</time>
                  </td>
                  <td>{item.lastUsedAt ? <time dateTime={item.lastUsedAt}>{fullDate(item.lastUsedAt)}</time> : <span className="muted">Never</span>}</td>
                  <td>
                    <button type="button" onClick={() => void revoke(item)} aria-label={`Revoke ${item.name}`}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      {created && (
        <div className="created-secret" role="status">
          <p>
            The app password for <strong>{created.name}</strong>. Enter it in the app now: it will not be shown again.
          </p>
          <p>
            <code aria-label="New app password">{created.password}</code>{' '}
            <button type="button" onClick={() => void copy(created.password)}>
              {copied ? 'Copied' : 'Copy'}
            </button>
          </p>
        </div>
      )}
      <form onSubmit={create}>
        <label>
          Name for the app
          <input required maxLength={100} placeholder="Phone mail app" value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Your password
          <input type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          Create app password
        </button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
