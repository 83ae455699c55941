/**
 * Users of the domains the actor manages: create (address, password, role), change the role,
 * the quota (storage used is shown next to it), disable or enable, reset the password, delete. What the API refuses for the actor's
 * rights (403) is said in words next to the row.
 */
import { useCallback, useState, type FormEvent } from 'react';
import type { AdminUserDto } from '@mailyard/core/contracts';
import type { AdminApi } from '../../api/client';
import { byteSize } from '../mail/format';
import { ErrorBlock, useAction, useResource } from './shared';

type UsersApi = Pick<AdminApi, 'users' | 'createUser' | 'updateUser' | 'deleteUser' | 'domains'>;
type Role = AdminUserDto['role'];

const roleLabel: Record<Role, string> = { user: 'User', 'domain-admin': 'Domain admin', admin: 'Administrator' };
const MB = 1024 * 1024;

export function UsersView({ api, fullAdmin, selfId }: { api: UsersApi; fullAdmin: boolean; selfId: number }) {
  const [domain, setDomain] = useState('');
  const domains = useResource(useCallback(() => api.domains(), [api]));
  const users = useResource(useCallback(() => api.users(domain || undefined), [api, domain]));
  const roles: Role[] = fullAdmin ? ['user', 'domain-admin', 'admin'] : ['user', 'domain-admin'];
  const [confirmDelete, setConfirmDelete] = useState<AdminUserDto | null>(null);
  const [resetting, setResetting] = useState<AdminUserDto | null>(null);
  const action = useAction();

  const change = (user: AdminUserDto, patch: Parameters<UsersApi['updateUser']>[1]) => action.run(() => api.updateUser(user.id, patch)).then(() => users.reload());

  return (
    <div className="admin-section">
      <CreateUserForm api={api} roles={roles} onCreated={users.reload} />
      <div className="admin-filters">
        <label>
          Domain
          <select value={domain} onChange={(e) => setDomain(e.target.value)}>
            <option value="">All my domains</option>
            {domains.data?.domains.map((d) => (
              <option key={d.id} value={d.name}>
                {d.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {action.error && <p className="error" role="alert">{action.error}</p>}
      {users.error && <ErrorBlock message={users.error} onRetry={users.reload} />}
      {users.data && users.data.users.length === 0 && <p className="empty">No users here yet.</p>}
      {users.data && users.data.users.length > 0 && (
        <table className="admin-table">
          <thead>
            <tr>
              <th scope="col">Address</th>
              <th scope="col">Role</th>
              <th scope="col">Quota (MB) and use</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {users.data.users.map((u) => (
              <tr key={u.id} data-disabled={u.disabled}>
                <th scope="row">
                  {u.address}
                  {u.totpEnabled && <span className="badge">2FA</span>}
                </th>
                <td>
                  <select aria-label={`Role of ${u.address}`} value={u.role} disabled={u.id === selfId || action.busy} onChange={(e) => void change(u, { role: e.target.value as Role })}>
                    {(roles.includes(u.role) ? roles : [...roles, u.role]).map((r) => (
                      <option key={r} value={r}>
                        {roleLabel[r]}
                      </option>
                    ))}
                  </select>
                </td>
                <td>
                  <QuotaInput user={u} onSave={(quotaBytes) => void change(u, { quotaBytes })} />
                  <span className="muted"> {byteSize(u.usedBytes)} used</span>
                </td>
                <td>{u.disabled ? 'Disabled' : 'Active'}</td>
                <td className="row-actions">
                  <button type="button" disabled={u.id === selfId || action.busy} onClick={() => void change(u, { disabled: !u.disabled })}>
                    {u.disabled ? 'Enable' : 'Disable'}
                  </button>
                  <button type="button" onClick={() => setResetting(u)}>
                    Reset password
                  </button>
                  <button type="button" disabled={u.id === selfId} onClick={() => setConfirmDelete(u)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {resetting && (
        <ResetPasswordDialog
          user={resetting}
          onCancel={() => setResetting(null)}
          onSave={async (password) => {
            if (await action.run(() => api.updateUser(resetting.id, { password }))) setResetting(null);
          }}
          error={action.error}
        />
      )}
      {confirmDelete && (
        <div className="dialog-backdrop">
          <div className="dialog" role="dialog" aria-modal="true" aria-labelledby="delete-user-title">
            <h2 id="delete-user-title">Delete {confirmDelete.address}?</h2>
            <p>Their mail, folders and sessions are deleted. This cannot be undone.</p>
            <div className="dialog-actions">
              <button type="button" onClick={() => setConfirmDelete(null)}>
                Cancel
              </button>
              <button
                type="button"
                className="danger"
                onClick={() => {
                  const user = confirmDelete;
                  setConfirmDelete(null);
                  void action.run(() => api.deleteUser(user.id)).then(() => users.reload());
                }}
              >
                Delete user
              </button>
            </div>
          </div>
        </div>
      )}
    </div>
  );
}

function CreateUserForm({ api, roles, onCreated }: { api: UsersApi; roles: Role[]; onCreated(): void }) {
  const [address, setAddress] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('user');
  const [created, setCreated] = useState<string | null>(null);
  const action = useAction();
  const valid = /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(address.trim()) && password.length >= 1;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setCreated(null);
    if (await action.run(() => api.createUser({ address: address.trim(), password, role }))) {
      setCreated(address.trim());
      setAddress('');
      setPassword('');
      onCreated();
    }
  };
  return (
    <form className="admin-form" onSubmit={submit} aria-label="New user">
      <label>
        Address
        <input type="email" value={address} onChange={(e) => setAddress(e.target.value)} placeholder="name@example.com" autoComplete="off" required />
      </label>
      <label>
        Password
        <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" required />
      </label>
      <label>
        Role
        <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {roles.map((r) => (
            <option key={r} value={r}>
              {roleLabel[r]}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" className="primary" disabled={!valid || action.busy}>
        Create user
      </button>
      {action.error && <p className="error" role="alert">{action.error}</p>}
      {created && <p role="status">Created {created}.</p>}
    </form>
  );
}

function QuotaInput({ user, onSave }: { user: AdminUserDto; onSave(quotaBytes: number | null): void }) {
  const initial = user.quotaBytes === null ? '' : String(Math.round(user.quotaBytes / MB));
  const [value, setValue] = useState(initial);
  const save = () => {
    if (value === initial) return;
    const mb = value.trim() === '' ? null : Number(value);
    if (mb !== null && (!Number.isInteger(mb) || mb < 0)) return setValue(initial);
    onSave(mb === null ? null : mb * MB);
  };
  return (
    <input
      className="quota"
      inputMode="numeric"
      aria-label={`Quota of ${user.address} in MB (empty: none)`}
      placeholder="none"
      value={value}
      onChange={(e) => setValue(e.target.value)}
      onBlur={save}
      onKeyDown={(e) => e.key === 'Enter' && save()}
    />
  );
}

function ResetPasswordDialog({ user, onCancel, onSave, error }: { user: AdminUserDto; onCancel(): void; onSave(password: string): void; error: string | null }) {
  const [password, setPassword] = useState('');
  return (
    <div className="dialog-backdrop">
      <form
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="reset-title"
        onSubmit={(e) => {
          e.preventDefault();
          onSave(password);
        }}
      >
        <h2 id="reset-title">New password for {user.address}</h2>
        <p>Their sessions end and their app passwords stop working.</p>
        <label>
          New password
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" autoFocus required />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <div className="dialog-actions">
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={password.length === 0}>
            Set password
          </button>
        </div>
      </form>
    </div>
  );
}
