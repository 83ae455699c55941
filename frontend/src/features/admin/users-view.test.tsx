// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { AdminUserDto } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { UsersView } from './users-view';

afterEach(cleanup);

function user(id: number, address: string, patch: Partial<AdminUserDto> = {}): AdminUserDto {
  return { id, address, domain: address.split('@')[1]!, role: 'user', displayName: null, disabled: false, quotaBytes: null, usedBytes: 0, totpEnabled: false, createdAt: '2024-03-03T10:00:00.000Z', ...patch };
}

function fakeApi(initial: AdminUserDto[]) {
  let users = [...initial];
  return {
    domains: vi.fn(async () => ({ domains: [{ id: 1, name: 'a.test', createdAt: '2024-03-03T10:00:00.000Z' }] })),
    users: vi.fn(async () => ({ users })),
    createUser: vi.fn(async (body: { address: string; password: string; role?: AdminUserDto['role'] }) => {
      const created = user(users.length + 10, body.address, { role: body.role ?? 'user' });
      users = [...users, created];
      return created;
    }),
    updateUser: vi.fn(async (id: number, patch: Partial<AdminUserDto>): Promise<AdminUserDto> => {
      if (patch.role === 'admin') throw new ApiError(403, 'auth.forbidden', 'Server administrators only.');
      users = users.map((u) => (u.id === id ? { ...u, ...patch } : u));
      return users.find((u) => u.id === id)!;
    }),
    deleteUser: vi.fn(async () => ({ ok: true as const })),
  };
}

describe('UsersView', () => {
  it('creates a user from the form and shows them in the list', async () => {
    const api = fakeApi([user(1, 'me@a.test', { role: 'admin' })]);
    render(<UsersView api={api} fullAdmin selfId={1} />);
    await screen.findByText('me@a.test');
    const form = screen.getByRole('form', { name: 'New user' });
    const create = within(form).getByRole('button', { name: 'Create user' }) as HTMLButtonElement;
    expect(create.disabled).toBe(true);
    fireEvent.change(within(form).getByLabelText('Address'), { target: { value: 'new@a.test' } });
    fireEvent.change(within(form).getByLabelText('Password'), { target: { value: 'a long password' } });
    fireEvent.change(within(form).getByLabelText('Role'), { target: { value: 'domain-admin' } });
    expect(create.disabled).toBe(false);
    fireEvent.click(create);
    await screen.findByText('Created new@a.test.');
    expect(api.createUser).toHaveBeenCalledWith({ address: 'new@a.test', password: 'a long password', role: 'domain-admin' });
    await screen.findByRole('rowheader', { name: 'new@a.test' });
  });

  it('offers a domain-admin no admin role, and nobody controls to change their own role, disable or delete themselves', async () => {
    const api = fakeApi([user(1, 'boss@a.test', { role: 'domain-admin' }), user(2, 'sue@a.test')]);
    render(<UsersView api={api} fullAdmin={false} selfId={1} />);
    const role = (await screen.findByLabelText('Role of sue@a.test')) as HTMLSelectElement;
    expect([...role.options].map((o) => o.value)).toEqual(['user', 'domain-admin']);
    expect([...(within(screen.getByRole('form', { name: 'New user' })).getByLabelText('Role') as HTMLSelectElement).options].map((o) => o.value)).toEqual(['user', 'domain-admin']);
    const own = screen.getByRole('rowheader', { name: 'boss@a.test' }).closest('tr')!;
    expect((within(own).getByLabelText('Role of boss@a.test') as HTMLSelectElement).disabled).toBe(true);
    expect((within(own).getByRole('button', { name: 'Disable' }) as HTMLButtonElement).disabled).toBe(true);
    expect((within(own).getByRole('button', { name: 'Delete' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('shows the API refusal of a change as a plain sentence about rights', async () => {
    const api = fakeApi([user(1, 'root@a.test', { role: 'admin' }), user(2, 'sue@a.test')]);
    render(<UsersView api={api} fullAdmin selfId={1} />);
    fireEvent.change(await screen.findByLabelText('Role of sue@a.test'), { target: { value: 'admin' } });
    expect((await screen.findByRole('alert')).textContent).toBe('You do not have the rights for this. Server administrators only.');
  });

  it('disables, sets a quota in MB, and resets a password through a dialog', async () => {
    const api = fakeApi([user(1, 'root@a.test', { role: 'admin' }), user(2, 'sue@a.test')]);
    render(<UsersView api={api} fullAdmin selfId={1} />);
    const row = (await screen.findByRole('rowheader', { name: 'sue@a.test' })).closest('tr')!;
    fireEvent.click(within(row).getByRole('button', { name: 'Disable' }));
    await waitFor(() => expect(api.updateUser).toHaveBeenCalledWith(2, { disabled: true }));
    await within((await screen.findByRole('rowheader', { name: 'sue@a.test' })).closest('tr')!).findByRole('button', { name: 'Enable' });

    const quota = screen.getByLabelText('Quota of sue@a.test in MB (empty: none)');
    fireEvent.change(quota, { target: { value: '50' } });
    fireEvent.blur(quota);
    await waitFor(() => expect(api.updateUser).toHaveBeenCalledWith(2, { quotaBytes: 50 * 1024 * 1024 }));

    fireEvent.click(within(screen.getByRole('rowheader', { name: 'sue@a.test' }).closest('tr')!).getByRole('button', { name: 'Reset password' }));
    const dialog = screen.getByRole('dialog', { name: 'New password for sue@a.test' });
    fireEvent.change(within(dialog).getByLabelText('New password'), { target: { value: 'fresh password' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Set password' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(api.updateUser).toHaveBeenCalledWith(2, { password: 'fresh password' });
  });
});
