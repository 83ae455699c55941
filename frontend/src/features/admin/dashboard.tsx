/** The dashboard: messages in and out per hour over the last day, the queue now, delivery outcomes, and storage (in total and the largest users). */
import { useCallback } from 'react';
import type { AdminApi } from '../../api/client';
import { byteSize } from '../mail/format';
import { ErrorBlock, useResource } from './shared';

export function Dashboard({ api }: { api: Pick<AdminApi, 'stats'> }) {
  const stats = useResource(useCallback(() => api.stats(), [api]));
  if (stats.error && !stats.data) return <ErrorBlock message={stats.error} onRetry={stats.reload} />;
  if (!stats.data) return <div className="skeleton admin-skeleton" aria-busy="true" />;
  const { hours, queue, outcomes, storage } = stats.data;
  const peak = Math.max(1, ...hours.map((h) => Math.max(h.received, h.sent)));
  const total = (key: 'received' | 'sent') => hours.reduce((n, h) => n + h[key], 0);
  return (
    <div className="admin-dashboard">
      <section className="stat-cards" aria-label="Totals">
        <Stat label="Received (24 h)" value={total('received')} />
        <Stat label="Sent (24 h)" value={total('sent')} />
        <Stat label="Queued" value={queue.queued} />
        <Stat label="Deferred" value={queue.deferred} />
        <Stat label={`Stored by ${storage.users} ${storage.users === 1 ? 'user' : 'users'}`} value={byteSize(storage.usedBytes)} />
      </section>
      <section aria-labelledby="hourly">
        <h3 id="hourly">Messages per hour</h3>
        <ol className="hour-chart">
          {hours.map((h) => {
            const hour = new Date(h.hour).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
            return (
              <li key={h.hour} aria-label={`${hour}: ${h.received} in, ${h.sent} out`} title={`${hour}: ${h.received} in, ${h.sent} out`}>
                <span className="bar in" style={{ height: `${(h.received / peak) * 100}%` }} />
                <span className="bar out" style={{ height: `${(h.sent / peak) * 100}%` }} />
              </li>
            );
          })}
        </ol>
        <p className="legend muted">
          <span className="swatch in" /> in <span className="swatch out" /> out — the last 24 hours
        </p>
      </section>
      <section aria-labelledby="outcomes">
        <h3 id="outcomes">Deliveries in the last 24 hours</h3>
        <dl className="outcomes">
          {(['delivered', 'deferred', 'bounced', 'expired'] as const).map((k) => (
            <div key={k} className={`outcome-${k}`}>
              <dt>{k}</dt>
              <dd className="count">{outcomes[k]}</dd>
            </div>
          ))}
        </dl>
      </section>
      <section aria-labelledby="largest">
        <h3 id="largest">Largest users</h3>
        {storage.top.length === 0 ? (
          <p className="muted">No users yet.</p>
        ) : (
          <table className="admin-table">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Stored</th>
                <th scope="col">Quota</th>
              </tr>
            </thead>
            <tbody>
              {storage.top.map((u) => (
                <tr key={u.id}>
                  <th scope="row">{u.address}</th>
                  <td className="count">{byteSize(u.usedBytes)}</td>
                  <td className="count">{u.quotaBytes === null ? 'none' : `${byteSize(u.quotaBytes)} (${Math.round((u.usedBytes / Math.max(1, u.quotaBytes)) * 100)}%)`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

function Stat({ label, value }: { label: string; value: number | string }) {
  return (
    <div className="stat-card">
      <span className="muted">{label}</span>
      <strong className="count">{value}</strong>
    </div>
  );
}
