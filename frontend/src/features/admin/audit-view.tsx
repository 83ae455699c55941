/** The audit log, newest first, filtered by action (or its prefix), actor and time; more pages on demand. */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import type { AdminAuditEntryDto } from '@mailyard/core/contracts';
import type { AdminApi, AdminAuditFilter } from '../../api/client';
import { describeAdminError, formatTime } from './shared';

type AuditApi = Pick<AdminApi, 'audit'>;

/** A datetime-local value (local time, no zone) as ISO 8601, or undefined when empty. */
function toIso(local: string): string | undefined {
  return local ? new Date(local).toISOString() : undefined;
}

export function AuditView({ api }: { api: AuditApi }) {
  const [form, setForm] = useState({ action: '', actor: '', since: '', until: '' });
  const [entries, setEntries] = useState<AdminAuditEntryDto[] | null>(null);
  const [nextBefore, setNextBefore] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState<AdminAuditFilter>({});

  const load = useCallback(
    async (query: AdminAuditFilter, before?: number) => {
      setError(null);
      try {
        const page = await api.audit({ ...query, before, limit: 100 });
        setEntries((old) => (before !== undefined && old ? [...old, ...page.entries] : page.entries));
        setNextBefore(page.nextBefore);
      } catch (err) {
        setError(describeAdminError(err));
      }
    },
    [api],
  );

  useEffect(() => {
    void load({});
  }, [load]);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const query: AdminAuditFilter = { action: form.action.trim() || undefined, actor: form.actor.trim() || undefined, since: toIso(form.since), until: toIso(form.until) };
    setFilter(query);
    void load(query);
  };
  const field = (key: keyof typeof form) => ({ value: form[key], onChange: (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value })) });

  return (
    <div className="admin-section">
      <form className="admin-form" onSubmit={apply} aria-label="Filter the audit log">
        <label>
          Action
          <input {...field('action')} placeholder="admin.user" />
        </label>
        <label>
          Actor
          <input {...field('actor')} placeholder="name@example.com" />
        </label>
        <label>
          From
          <input type="datetime-local" {...field('since')} />
        </label>
        <label>
          Until
          <input type="datetime-local" {...field('until')} />
        </label>
        <button type="submit" className="primary">
          Filter
        </button>
      </form>
      {error && (
        <div className="error-block" role="alert">
          <p>{error}</p>
          <button type="button" onClick={() => void load(filter)}>
            Retry
          </button>
        </div>
      )}
      {entries && entries.length === 0 && <p className="empty">No entries match.</p>}
      {entries && entries.length > 0 && (
        <table className="admin-table">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">From</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id}>
                <td className="time">{formatTime(e.at)}</td>
                <td>{e.actorAddress ?? '—'}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td>{e.target ?? '—'}</td>
                <td className="muted">{e.ip ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {nextBefore !== null && (
        <button type="button" onClick={() => void load(filter, nextBefore)}>
          Load older entries
        </button>
      )}
    </div>
  );
}
