/** Aliases and catch-alls (`@domain`): list, add, remove. Letting an alias send is for server admins. */
import { useCallback, useState, type FormEvent } from 'react';
import type { AdminApi } from '../../api/client';
import { ErrorBlock, useAction, useResource } from './shared';

type AliasesApi = Pick<AdminApi, 'aliases' | 'addAlias' | 'removeAlias'>;

export function AliasesView({ api, fullAdmin }: { api: AliasesApi; fullAdmin: boolean }) {
  const aliases = useResource(useCallback(() => api.aliases(), [api]));
  const [address, setAddress] = useState('');
  const [target, setTarget] = useState('');
  const [allowSend, setAllowSend] = useState(false);
  const action = useAction();

  const add = async (e: FormEvent) => {
    e.preventDefault();
    if (await action.run(() => api.addAlias({ address: address.trim(), target: target.trim(), allowSend }))) {
      setAddress('');
      setTarget('');
      setAllowSend(false);
      aliases.reload();
    }
  };

  return (
    <div className="admin-section">
      <form className="admin-form" onSubmit={add} aria-label="New alias">
        <label>
          Alias (or @domain for a catch-all)
          <input value={address} onChange={(e) => setAddress(e.target.value)} placeholder="sales@example.com" required />
        </label>
        <label>
          Delivers to
          <input type="email" value={target} onChange={(e) => setTarget(e.target.value)} placeholder="anna@example.com" required />
        </label>
        {fullAdmin && (
          <label className="checkbox">
            <input type="checkbox" checked={allowSend} onChange={(e) => setAllowSend(e.target.checked)} /> May also send as it
          </label>
        )}
        <button type="submit" className="primary" disabled={action.busy || !address.includes('@') || !target.includes('@')}>
          Add alias
        </button>
      </form>
      {action.error && <p className="error" role="alert">{action.error}</p>}
      {aliases.error && <ErrorBlock message={aliases.error} onRetry={aliases.reload} />}
      {aliases.data && aliases.data.aliases.length === 0 && <p className="empty">No aliases yet.</p>}
      {aliases.data && aliases.data.aliases.length > 0 && (
        <table className="admin-table">
          <thead>
            <tr>
              <th scope="col">Alias</th>
              <th scope="col">Delivers to</th>
              <th scope="col">Sending</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {aliases.data.aliases.map((a) => (
              <tr key={a.id}>
                <th scope="row">{a.address.startsWith('@') ? `${a.address} (catch-all)` : a.address}</th>
                <td>{a.targetAddress}</td>
                <td>{a.allowSend ? 'May send as it' : 'Receives only'}</td>
                <td className="row-actions">
                  <button type="button" aria-label={`Remove ${a.address}`} onClick={() => void action.run(() => api.removeAlias(a.address)).then(() => aliases.reload())}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
