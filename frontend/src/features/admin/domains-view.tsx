/**
 * Domains: the list (admins add and remove; removing needs the name typed), and per domain the
 * DNS records to publish with a live check (✓ or ✕ with what the DNS has instead), a copy button
 * each, and DKIM key rotation.
 */
import { useCallback, useState, type FormEvent } from 'react';
import type { AdminDkimRotateResponse, AdminDomainDto } from '@mailyard/core/contracts';
import type { AdminApi } from '../../api/client';
import { ErrorBlock, formatTime, useAction, useResource } from './shared';

type DomainsApi = Pick<AdminApi, 'domains' | 'addDomain' | 'removeDomain' | 'dns' | 'rotateDkim'>;

export function DomainsView({ api, fullAdmin }: { api: DomainsApi; fullAdmin: boolean }) {
  const domains = useResource(useCallback(() => api.domains(), [api]));
  const [name, setName] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const [removing, setRemoving] = useState<AdminDomainDto | null>(null);
  const action = useAction();

  const add = async (e: FormEvent) => {
    e.preventDefault();
    if (await action.run(() => api.addDomain(name.trim()))) {
      setName('');
      domains.reload();
    }
  };

  return (
    <div className="admin-section">
      {fullAdmin && (
        <form className="admin-form" onSubmit={add}>
          <label>
            New domain
            <input value={name} onChange={(e) => setName(e.target.value)} placeholder="example.com" required />
          </label>
          <button type="submit" className="primary" disabled={action.busy || name.trim() === ''}>
            Add domain
          </button>
        </form>
      )}
      {action.error && <p className="error" role="alert">{action.error}</p>}
      {domains.error && <ErrorBlock message={domains.error} onRetry={domains.reload} />}
      {domains.data && domains.data.domains.length === 0 && <p className="empty">No domains yet.{fullAdmin ? ' Add the first one above.' : ''}</p>}
      {domains.data && domains.data.domains.length > 0 && (
        <table className="admin-table">
          <thead>
            <tr>
              <th scope="col">Domain</th>
              <th scope="col">Added</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {domains.data.domains.map((d) => (
              <DomainRow key={d.id} domain={d} open={open === d.name} onToggle={() => setOpen(open === d.name ? null : d.name)} onRemove={fullAdmin ? () => setRemoving(d) : undefined} api={api} />
            ))}
          </tbody>
        </table>
      )}
      {removing && (
        <RemoveDomainDialog
          domain={removing}
          onCancel={() => setRemoving(null)}
          onRemove={async () => {
            if (await action.run(() => api.removeDomain(removing.name))) domains.reload();
            setRemoving(null);
          }}
        />
      )}
    </div>
  );
}

function DomainRow({ domain, open, onToggle, onRemove, api }: { domain: AdminDomainDto; open: boolean; onToggle(): void; onRemove?(): void; api: DomainsApi }) {
  return (
    <>
      <tr>
        <th scope="row">{domain.name}</th>
        <td className="time">{formatTime(domain.createdAt)}</td>
        <td className="row-actions">
          <button type="button" aria-expanded={open} onClick={onToggle}>
            DNS and DKIM
          </button>
          {onRemove && (
            <button type="button" onClick={onRemove}>
              Remove
            </button>
          )}
        </td>
      </tr>
      {open && (
        <tr>
          <td colSpan={3}>
            <DnsPanel name={domain.name} api={api} />
          </td>
        </tr>
      )}
    </>
  );
}

function DnsPanel({ name, api }: { name: string; api: DomainsApi }) {
  const dns = useResource(useCallback(() => api.dns(name), [api, name]));
  const [rotated, setRotated] = useState<AdminDkimRotateResponse | null>(null);
  const action = useAction();
  const rotate = () => action.run(async () => setRotated(await api.rotateDkim(name))).then((ok) => ok && dns.reload());
  return (
    <section className="dns-panel" aria-label={`DNS records for ${name}`}>
      <div className="dns-toolbar">
        <button type="button" onClick={dns.reload} disabled={dns.loading}>
          {dns.loading ? 'Checking…' : 'Check again'}
        </button>
        <button type="button" onClick={() => void rotate()} disabled={action.busy}>
          Rotate DKIM key
        </button>
      </div>
      {action.error && <p className="error" role="alert">{action.error}</p>}
      {rotated && (
        <p role="status">
          New DKIM selector <code>{rotated.selector}</code>: publish its TXT record, listed below.
        </p>
      )}
      {dns.error && <ErrorBlock message={dns.error} onRetry={dns.reload} />}
      {dns.data && (
        <ul className="dns-records">
          {dns.data.records.map((r) => (
            <li key={`${r.purpose}-${r.name}-${r.value}`} data-ok={r.ok}>
              <span className={r.ok ? 'check ok' : 'check bad'} aria-label={r.ok ? 'found' : 'missing'}>
                {r.ok ? '✓' : '✕'}
              </span>
              <span className="dns-type">
                {r.type} {r.purpose.toUpperCase()}
              </span>
              <code className="dns-name">{r.name}</code>
              <code className="dns-value">
                {r.priority !== undefined ? `${r.priority} ` : ''}
                {r.value}
              </code>
              <button type="button" onClick={() => void navigator.clipboard?.writeText(r.value)} aria-label={`Copy the ${r.purpose} record`}>
                Copy
              </button>
              {!r.ok && <span className="dns-found muted">{r.error ?? (r.found.length ? `Found instead: ${r.found.join(' | ')}` : 'Nothing published yet.')}</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function RemoveDomainDialog({ domain, onCancel, onRemove }: { domain: AdminDomainDto; onCancel(): void; onRemove(): void }) {
  const [typed, setTyped] = useState('');
  return (
    <div className="dialog-backdrop">
      <div className="dialog" role="dialog" aria-modal="true" aria-labelledby="remove-domain-title">
        <h2 id="remove-domain-title">Remove {domain.name}?</h2>
        <p>The server stops accepting mail for it. A domain that still has users or aliases cannot be removed.</p>
        <label>
          Type the domain name to confirm
          <input value={typed} onChange={(e) => setTyped(e.target.value)} autoFocus />
        </label>
        <div className="dialog-actions">
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="button" className="danger" disabled={typed.trim().toLowerCase() !== domain.name} onClick={onRemove}>
            Remove domain
          </button>
        </div>
      </div>
    </div>
  );
}
