/**
 * The user's display name (the From name of mail they send from the webmail) and the plain-text
 * signature compose inserts under a `-- ` line: GET/PATCH /api/account/settings, saved together.
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { AccountSettings, AccountSettingsBody } from '@mailyard/core/contracts';
import { describeError } from './describe-error';

export function ProfileForm({ load, save }: { load(): Promise<AccountSettings>; save(body: AccountSettingsBody): Promise<AccountSettings> }) {
  const [loaded, setLoaded] = useState(false);
  const [displayName, setDisplayName] = useState('');
  const [signature, setSignature] = useState('');
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);

  const show = (s: AccountSettings) => {
    setDisplayName(s.displayName ?? '');
    setSignature(s.signature);
    setLoaded(true);
  };

  useEffect(() => {
    load().then(show, (err: unknown) => setStatus({ ok: false, text: describeError(err) }));
  }, [load]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setStatus(null);
    save({ displayName, signature })
      .then(
        (s) => {
          show(s);
          setStatus({ ok: true, text: 'Saved.' });
        },
        (err: unknown) => setStatus({ ok: false, text: describeError(err) }),
      )
      .finally(() => setBusy(false));
  };

  return (
    <form className="settings-form" aria-labelledby="profile-title" onSubmit={submit}>
      <h2 id="profile-title">Name and signature</h2>
      <label>
        Display name
        <input value={displayName} maxLength={100} disabled={!loaded} autoComplete="name" onChange={(e) => setDisplayName(e.target.value)} />
      </label>
      <p className="muted">Shown to the people you write to, as the sender of your mail.</p>
      <label>
        Signature
        <textarea value={signature} maxLength={2000} rows={4} disabled={!loaded} onChange={(e) => setSignature(e.target.value)} />
      </label>
      <p className="muted">Added under new messages, replies and forwards. Plain text.</p>
      <button type="submit" disabled={!loaded || busy}>
        {busy ? 'Saving…' : 'Save name and signature'}
      </button>
      {status && (
        <p className={status.ok ? 'notice' : 'error'} role={status.ok ? 'status' : 'alert'}>
          {status.text}
        </p>
      )}
    </form>
  );
}
