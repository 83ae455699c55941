/**
 * The settings screen (`/settings`, loaded on demand): the theme, storage used (GET
 * /api/account/usage), the display name and signature and the undo-send delay (GET/PATCH
 * /api/account/settings), export and import (an mbox file), the blocked and
 * allowed senders, the password, two-step sign-in and app passwords. Each section talks
 * to the API by itself and says in words what failed.
 */
import { useEffect, useState } from 'react';
import type { AccountSettings, AccountSettingsBody, Me } from '@mailyard/core/contracts';
import { api } from '../../api/client';
import type { Theme, ThemeChoice } from '../../app/theme';
import { AppPasswords } from './app-passwords';
import { describeError } from './describe-error';
import { ImportMail } from './import-mail';
import { PasswordForm } from './password-form';
import { ProfileForm } from './profile-form';
import { SenderLists } from './sender-lists';
import { StorageUsage } from './storage-usage';
import { TotpSection } from './totp-section';

interface SettingsProps {
  me: Me;
  /** The session expired: the screen stays as it is, under the sign-in dialog. */
  inert: boolean;
  theme: Theme;
  onClose(): void;
}

const themes: Array<{ value: ThemeChoice; label: string }> = [
  { value: 'system', label: 'Same as the system' },
  { value: 'light', label: 'Light' },
  { value: 'dark', label: 'Dark' },
];

export default function Settings({ me, inert, theme, onClose }: SettingsProps) {
  useEffect(() => {
    document.title = 'Settings — Mailyard';
  }, []);
  return (
    <div className="settings-page" inert={inert}>
      <header className="topbar">
        <button type="button" onClick={onClose}>
          ← Back to mail
        </button>
        <h1 className="pane-title">Settings</h1>
        <span className="spacer" />
        <span className="account muted">{me.address}</span>
      </header>
      <main className="settings">
        <fieldset className="settings-form">
          <legend>
            <h2>Theme</h2>
          </legend>
          {themes.map((t) => (
            <label key={t.value} className="radio">
              <input type="radio" name="theme" value={t.value} checked={theme.theme === t.value} onChange={() => theme.set(t.value)} /> {t.label}
            </label>
          ))}
        </fieldset>
        <StorageUsage load={api.accountUsage} />
        <section className="settings-form" aria-labelledby="export-title">
          <h2 id="export-title">Export</h2>
          <p className="muted">Every folder as one mbox file, with read and starred marks. Thunderbird, Apple Mail, <code>npx mailyard import</code> and Import below read it.</p>
          <a className="button" href="/api/account/export" download>
            Download all mail (.mbox)
          </a>
        </section>
        <ImportMail importFile={api.importMail} />
        <ProfileForm load={api.accountSettings} save={api.saveAccountSettings} />
        <UndoSendSetting load={api.accountSettings} save={api.saveAccountSettings} />
        <SenderLists client={api} />
        <PasswordForm changePassword={api.changePassword} />
        <TotpSection client={api} />
        <section className="settings-form" aria-labelledby="devices-title">
          <h2 id="devices-title">Mail apps</h2>
          <p className="muted">
            Thunderbird, Outlook and phone mail apps need only your address and password: they find the server themselves. With two-step sign-in on, use an app
            password below instead of your password.
          </p>
          <a className="button" href="/api/account/mobileconfig" download>
            Set up iPhone, iPad or Mac (profile)
          </a>
        </section>
        <AppPasswords client={api} />
      </main>
    </div>
  );
}

const delays = [0, 5, 10, 20, 30];

/** How long a sent message waits so it can be undone; saved as soon as it is picked. */
export function UndoSendSetting({ load, save }: { load(): Promise<AccountSettings>; save(body: AccountSettingsBody): Promise<AccountSettings> }) {
  const [value, setValue] = useState<number | null>(null);
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);

  useEffect(() => {
    load().then(
      (s) => setValue(s.undoSendSeconds),
      (err: unknown) => setStatus({ ok: false, text: describeError(err) }),
    );
  }, [load]);

  const pick = (seconds: number) => {
    const before = value;
    setValue(seconds);
    setStatus(null);
    save({ undoSendSeconds: seconds }).then(
      (s) => {
        setValue(s.undoSendSeconds);
        setStatus({ ok: true, text: 'Saved.' });
      },
      (err: unknown) => {
        setValue(before);
        setStatus({ ok: false, text: describeError(err) });
      },
    );
  };

  return (
    <section className="settings-form" aria-labelledby="undo-title">
      <h2 id="undo-title">Undo send</h2>
      <label>
        Time to undo a sent message
        <select disabled={value === null} value={value ?? ''} onChange={(e) => pick(Number(e.target.value))}>
          {value === null && <option value="">Loading…</option>}
          {(value === null || delays.includes(value) ? delays : [...delays, value].sort((x, y) => x - y)).map((d) => (
            <option key={d} value={d}>
              {d === 0 ? 'Off: send at once' : `${d} seconds`}
            </option>
          ))}
        </select>
      </label>
      {status && (
        <p className={status.ok ? 'notice' : 'error'} role={status.ok ? 'status' : 'alert'}>
          {status.text}
        </p>
      )}
    </section>
  );
}
