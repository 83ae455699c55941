/**
 * Sign in: address and password, then (accounts with TOTP) the 6-digit code. As a page, or as a
 * dialog over the mail when a session expired (the address is filled in).
 */
import { useState, type FormEvent } from 'react';
import type { Me } from '@mailyard/core/contracts';
import { api, ApiError, setCsrfToken } from '../../api/client';

interface SignInProps {
  onSignedIn(me: Me): void;
  initialAddress?: string;
  notice?: string;
  /** Shown over the (inert) mail instead of as a page. */
  dialog?: boolean;
}

export function SignIn({ onSignedIn, initialAddress = '', notice, dialog = false }: SignInProps) {
  const [step, setStep] = useState<'password' | 'totp'>('password');
  const [address, setAddress] = useState(initialAddress);
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (step === 'password') {
        const answer = await api.login({ address: address.trim(), password });
        if ('mfaRequired' in answer) {
          setCsrfToken(answer.csrfToken);
          setStep('totp');
        } else {
          onSignedIn(answer);
        }
      } else {
        onSignedIn(await api.totp({ code: code.trim() }));
      }
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Something went wrong. Try again.');
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className={dialog ? 'signin-backdrop' : 'signin-page'}>
      <form className="signin-card" onSubmit={submit} role={dialog ? 'dialog' : undefined} aria-modal={dialog || undefined} aria-labelledby="signin-title">
        <div className="brand" aria-hidden="true">✉</div>
        <h1 id="signin-title">{step === 'password' ? 'Sign in to Mailyard' : 'Two-step verification'}</h1>
        {notice && step === 'password' && <p className="notice">{notice}</p>}
        {step === 'password' ? (
          <>
            <label>
              Email address
              <input type="email" name="address" autoComplete="username" required autoFocus={!initialAddress} value={address} onChange={(e) => setAddress(e.target.value)} />
            </label>
            <label>
              Password
              <input type="password" name="password" autoComplete="current-password" required autoFocus={!!initialAddress} value={password} onChange={(e) => setPassword(e.target.value)} />
            </label>
          </>
        ) : (
          <label>
            The 6-digit code from your authenticator app
            <input name="code" inputMode="numeric" autoComplete="one-time-code" pattern="\s*\d{6}\s*" required autoFocus value={code} onChange={(e) => setCode(e.target.value)} />
          </label>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : step === 'password' ? 'Sign in' : 'Verify'}
        </button>
      </form>
    </div>
  );
}
