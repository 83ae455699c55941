/**
 * The app shell: who is signed in. Until GET /api/me answers it shows nothing but the page
 * background; anonymous users get the sign-in screen. When a session expires mid-use the mail
 * stays mounted (inert) under a sign-in dialog, so nothing on screen is lost; signing in again
 * as the same user picks up where it was. `/settings` shows the settings screen (loaded on
 * demand, so the first screen's JavaScript stays small) instead of the mail, and `/admin` the
 * admin panel (likewise), linked from the mail's header for admins and domain-admins only. The
 * compose dock stays mounted everywhere (open windows keep their text); its Compose button shows
 * only with the mail.
 */
import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import type { Me } from '@mailyard/core/contracts';
import { api, onSessionExpired, setCsrfToken } from '../api/client';
import { SignIn } from '../features/auth/sign-in';
import { ComposeDock } from '../features/compose/compose-dock';
import { MailApp } from '../features/mail/mail-app';
import { useRoute } from './route';
import { useTheme } from './theme';

const Settings = lazy(() => import('../features/settings/settings'));
const AdminApp = lazy(() => import('../features/admin/admin-app'));

type Session = { state: 'loading' } | { state: 'anonymous' } | { state: 'signed-in'; me: Me; expired: boolean; epoch: number };

export function App() {
  const [session, setSession] = useState<Session>({ state: 'loading' });
  const theme = useTheme();
  const [route, navigate] = useRoute();

  useEffect(() => {
    onSessionExpired(() => setSession((s) => (s.state === 'signed-in' ? { ...s, expired: true } : s)));
    api.me({ anonymous: true }).then(
      (me) => {
        setCsrfToken(me.csrfToken);
        setSession({ state: 'signed-in', me, expired: false, epoch: 0 });
      },
      () => setSession({ state: 'anonymous' }),
    );
    return () => onSessionExpired(null);
  }, []);

  const signedIn = useCallback((me: Me) => {
    setCsrfToken(me.csrfToken);
    setSession((s) =>
      s.state === 'signed-in' && s.me.id === me.id ? { state: 'signed-in', me, expired: false, epoch: s.epoch + 1 } : { state: 'signed-in', me, expired: false, epoch: 0 },
    );
  }, []);

  const signOut = useCallback(async () => {
    await api.logout().catch(() => undefined);
    setCsrfToken(null);
    setSession({ state: 'anonymous' });
  }, []);

  if (session.state === 'loading') return null;
  if (session.state === 'anonymous') return <SignIn onSignedIn={signedIn} />;
  const isAdmin = session.me.role === 'admin' || session.me.role === 'domain-admin';
  const screen = route === 'admin' && isAdmin ? 'admin' : route === 'settings' ? 'settings' : 'mail';
  return (
    <>
      {screen === 'admin' ? (
        <Suspense fallback={<p className="empty">Loading the admin panel…</p>}>
          <AdminApp me={session.me} inert={session.expired} onClose={() => navigate('mail')} />
        </Suspense>
      ) : screen === 'settings' ? (
        <Suspense fallback={<p className="empty">Loading settings…</p>}>
          <Settings me={session.me} inert={session.expired} theme={theme} onClose={() => navigate('mail')} />
        </Suspense>
      ) : (
        <MailApp key={session.me.id} me={session.me} epoch={session.epoch} inert={session.expired} onSettings={() => navigate('settings')} onAdmin={isAdmin ? () => navigate('admin') : undefined} onSignOut={signOut} />
      )}
      <ComposeDock key={`compose-${session.me.id}`} me={session.me.address} inert={session.expired} showButton={screen === 'mail'} />
      {session.expired && <SignIn onSignedIn={signedIn} dialog initialAddress={session.me.address} notice="Your session has ended. Sign in again to continue where you were." />}
    </>
  );
}
