/**
 * The admin panel (`/admin`, its own chunk, loaded on demand): a tab per area — dashboard,
 * domains (DNS, DKIM), users, aliases, the outbound queue and the audit log. Admins see every
 * domain; domain-admins see their own domains, and the controls only admins may use are hidden
 * from them (the API refuses them anyway, and its 403 answers are shown in words).
 */
import { useEffect, useState } from 'react';
import type { Me } from '@mailyard/core/contracts';
import { adminApi, type AdminApi } from '../../api/client';
import { AliasesView } from './aliases-view';
import { AuditView } from './audit-view';
import { Dashboard } from './dashboard';
import { DomainsView } from './domains-view';
import { QueueView } from './queue-view';
import { UsersView } from './users-view';

const tabs = [
  { id: 'dashboard', label: 'Dashboard' },
  { id: 'domains', label: 'Domains' },
  { id: 'users', label: 'Users' },
  { id: 'aliases', label: 'Aliases' },
  { id: 'queue', label: 'Outbound queue' },
  { id: 'audit', label: 'Audit log' },
] as const;
type Tab = (typeof tabs)[number]['id'];

interface AdminAppProps {
  me: Me;
  /** The session expired: the screen stays as it is, under the sign-in dialog. */
  inert: boolean;
  onClose(): void;
  /** The API (tests pass a fake). */
  api?: AdminApi;
}

export default function AdminApp({ me, inert, onClose, api = adminApi }: AdminAppProps) {
  const [tab, setTab] = useState<Tab>('dashboard');
  const fullAdmin = me.role === 'admin';
  useEffect(() => {
    document.title = 'Admin — Mailyard';
  }, []);

  const onTabKey = (e: React.KeyboardEvent) => {
    const i = tabs.findIndex((t) => t.id === tab);
    const next = e.key === 'ArrowRight' ? (i + 1) % tabs.length : e.key === 'ArrowLeft' ? (i - 1 + tabs.length) % tabs.length : -1;
    if (next < 0) return;
    e.preventDefault();
    setTab(tabs[next]!.id);
    document.getElementById(`admin-tab-${tabs[next]!.id}`)?.focus();
  };

  return (
    <div className="admin-page" inert={inert}>
      <header className="topbar">
        <button type="button" onClick={onClose}>
          ← Back to mail
        </button>
        <h1 className="pane-title">Admin</h1>
        <span className="muted">{fullAdmin ? 'Server administrator' : 'Domain administrator'}</span>
        <span className="spacer" />
        <span className="account muted">{me.address}</span>
      </header>
      <nav className="admin-tabs" role="tablist" aria-label="Admin areas" onKeyDown={onTabKey}>
        {tabs.map((t) => (
          <button key={t.id} id={`admin-tab-${t.id}`} type="button" role="tab" aria-selected={tab === t.id} aria-controls="admin-panel" tabIndex={tab === t.id ? 0 : -1} onClick={() => setTab(t.id)}>
            {t.label}
          </button>
        ))}
      </nav>
      <main className="admin-main" id="admin-panel" role="tabpanel" aria-labelledby={`admin-tab-${tab}`}>
        {tab === 'dashboard' && <Dashboard api={api} />}
        {tab === 'domains' && <DomainsView api={api} fullAdmin={fullAdmin} />}
        {tab === 'users' && <UsersView api={api} fullAdmin={fullAdmin} selfId={me.id} />}
        {tab === 'aliases' && <AliasesView api={api} fullAdmin={fullAdmin} />}
        {tab === 'queue' && <QueueView api={api} />}
        {tab === 'audit' && <AuditView api={api} />}
      </main>
    </div>
  );
}
