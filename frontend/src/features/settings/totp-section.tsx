/**
 * Two-step sign-in (TOTP). Off: "Set up" (with the account password) asks the API for a new secret
 * and shows it as a QR code (drawn in the browser by `qrcode`, loaded only then) and as text to
 * type; a code from the authenticator turns it on, and signs out the user's other sessions. On:
 * turning it off needs the account password and a current code.
 * The API gives no recovery codes, so the screen says to keep the key somewhere safe.
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { TotpCodeBody, TotpDisableBody, TotpSetup, TotpSetupBody, TotpStatus } from '@mailyard/core/contracts';
import { describeError } from './describe-error';

export interface TotpClient {
  totpStatus(): Promise<TotpStatus>;
  totpSetup(body: TotpSetupBody): Promise<TotpSetup>;
  totpEnable(body: TotpCodeBody): Promise<void>;
  totpDisable(body: TotpDisableBody): Promise<void>;
}

type State = { kind: 'loading' } | { kind: 'failed'; message: string } | { kind: 'off' } | { kind: 'setup'; setup: TotpSetup; qr: string | null } | { kind: 'on' };

/** The otpauth:// URL as an SVG image (a data: URL, which the app's CSP allows for images). */
async function qrImage(url: string): Promise<string> {
  const { toString } = await import('qrcode');
  const svg = await toString(url, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

export function TotpSection({ client }: { client: TotpClient }) {
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [code, setCode] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = () => {
    setState({ kind: 'loading' });
    client.totpStatus().then(
      (status) => setState({ kind: status.enabled ? 'on' : 'off' }),
      (err: unknown) => setState({ kind: 'failed', message: describeError(err) }),
    );
  };
  // once, when the section opens
  useEffect(load, []);

  /** Runs a step with the busy flag and the error line. */
  async function step(work: () => Promise<void>) {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      await work();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  const startSetup = (event: FormEvent) => {
    event.preventDefault();
    void step(async () => {
      const setup = await client.totpSetup({ password });
      setPassword('');
      setCode('');
      setState({ kind: 'setup', setup, qr: null });
      const qr = await qrImage(setup.otpauthUrl).catch(() => null);
      setState((s) => (s.kind === 'setup' && s.setup === setup ? { ...s, qr } : s));
    });
  };

  const enable = (event: FormEvent) => {
    event.preventDefault();
    void step(async () => {
      await client.totpEnable({ code: code.trim() });
      setCode('');
      setState({ kind: 'on' });
      setNotice('Two-step sign-in is on. Your other sessions were signed out; from now on, signing in asks for a code from your authenticator app.');
    });
  };

  const disable = (event: FormEvent) => {
    event.preventDefault();
    void step(async () => {
      await client.totpDisable({ password, code: code.trim() });
      setPassword('');
      setCode('');
      setState({ kind: 'off' });
      setNotice('Two-step sign-in is off.');
    });
  };

  const passwordField = (
    <label>
      Password
      <input type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
    </label>
  );

  const codeField = (
    <label>
      6-digit code from the app
      <input name="code" inputMode="numeric" autoComplete="one-time-code" pattern="\s*\d{6}\s*" required value={code} onChange={(e) => setCode(e.target.value)} />
    </label>
  );

  return (
    <section className="settings-form" aria-labelledby="totp-title">
      <h2 id="totp-title">Two-step sign-in</h2>
      {state.kind === 'loading' && <p className="muted">Loading…</p>}
      {state.kind === 'failed' && (
        <div className="error-block" role="alert">
          <p>{state.message}</p>
          <button type="button" onClick={load}>
            Retry
          </button>
        </div>
      )}
      {state.kind === 'off' && (
        <form onSubmit={startSetup}>
          <p className="muted">Ask for a code from an authenticator app (such as Aegis, 1Password or Google Authenticator) when you sign in on the web. To set it up, enter your password.</p>
          {passwordField}
          <button type="submit" className="primary" disabled={busy}>
            Set up two-step sign-in
          </button>
        </form>
      )}
      {state.kind === 'setup' && (
        <form onSubmit={enable} className="totp-setup">
          <p>Scan this code with your authenticator app, or type the key into it. Keep the key somewhere safe: it is the only way to add the app again.</p>
          {state.qr ? <img className="qr" src={state.qr} alt="QR code for your authenticator app" width={192} height={192} /> : <div className="qr skeleton" aria-hidden="true" />}
          <p>
            Key: <code aria-label="Secret key">{state.setup.secret}</code>
          </p>
          {codeField}
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy}>
              Turn on
            </button>
            <button type="button" onClick={() => setState({ kind: 'off' })}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {state.kind === 'on' && (
        <form onSubmit={disable}>
          <p>Two-step sign-in is on. To turn it off, enter your password and a current code.</p>
          {passwordField}
          {codeField}
          <button type="submit" disabled={busy}>
            Turn off
          </button>
        </form>
      )}
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
