// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import type { AppPasswordDto } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { AppPasswords, type AppPasswordClient } from './app-passwords';
import { PasswordForm } from './password-form';
import { UndoSendSetting } from './settings';
import { TotpSection, type TotpClient } from './totp-section';

afterEach(cleanup);

const type = (label: string | RegExp, value: string) => fireEvent.change(screen.getByLabelText(label), { target: { value } });

describe('the password form', () => {
  it('refuses two different new passwords without asking the API', async () => {
    const changePassword = vi.fn(async () => undefined);
    render(<PasswordForm changePassword={changePassword} />);
    type('Current password', 'old one');
    type('New password', 'a new password');
    type('New password again', 'another password');
    fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect((await screen.findByRole('alert')).textContent).toBe('The new passwords do not match.');
    expect(changePassword).not.toHaveBeenCalled();
  });

  it('changes the password and says other sessions and app passwords were signed out', async () => {
    const changePassword = vi.fn(async () => undefined);
    render(<PasswordForm changePassword={changePassword} />);
    expect(screen.getByText(/signs you out everywhere else and revokes every app password/)).toBeTruthy();
    type('Current password', 'old one');
    type('New password', 'a new password');
    type('New password again', 'a new password');
    fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect((await screen.findByRole('status')).textContent).toContain('Your other sessions were signed out and your app passwords revoked.');
    expect(changePassword).toHaveBeenCalledWith({ currentPassword: 'old one', newPassword: 'a new password' });
    expect((screen.getByLabelText('Current password') as HTMLInputElement).value).toBe('');
  });

  it('says so when the current password is wrong', async () => {
    render(<PasswordForm changePassword={async () => Promise.reject(new ApiError(403, 'auth.invalid', 'That address and password do not match.'))} />);
    type('Current password', 'wrong');
    type('New password', 'a new password');
    type('New password again', 'a new password');
    fireEvent.click(screen.getByRole('button', { name: 'Change password' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Your current password is not right.');
  });
});

function totpClient(enabled: boolean): TotpClient & { [K in keyof TotpClient]: ReturnType<typeof vi.fn> } {
  return {
    totpStatus: vi.fn(async () => ({ enabled, pendingSetup: false })),
    totpSetup: vi.fn(async () => ({ secret: 'JBSWY3DPEHPK3PXP', otpauthUrl: 'otpauth://totp/Mailyard:me%40example.test?secret=JBSWY3DPEHPK3PXP&issuer=Mailyard' })),
    totpEnable: vi.fn(async () => undefined),
    totpDisable: vi.fn(async () => undefined),
  };
}

describe('two-step sign-in', () => {
  it('sets up with the password, a QR code drawn in the browser and the key as text, and turns on with a code', async () => {
    const client = totpClient(false);
    render(<TotpSection client={client} />);
    await screen.findByRole('button', { name: 'Set up two-step sign-in' });
    type('Password', 'my password');
    fireEvent.click(screen.getByRole('button', { name: 'Set up two-step sign-in' }));
    expect((await screen.findByLabelText('Secret key')).textContent).toBe('JBSWY3DPEHPK3PXP');
    expect(client.totpSetup).toHaveBeenCalledWith({ password: 'my password' });
    const qr = (await screen.findByAltText('QR code for your authenticator app')) as HTMLImageElement;
    expect(qr.getAttribute('src')).toMatch(/^data:image\/svg\+xml;charset=utf-8,%3Csvg/);

    client.totpEnable.mockRejectedValueOnce(new ApiError(400, 'totp.invalid', 'That code is not right. Check your authenticator app and try again.'));
    type('6-digit code from the app', '000000');
    fireEvent.click(screen.getByRole('button', { name: 'Turn on' }));
    expect((await screen.findByRole('alert')).textContent).toContain('That code is not right.');
    type('6-digit code from the app', ' 123456 ');
    fireEvent.click(screen.getByRole('button', { name: 'Turn on' }));
    expect((await screen.findByRole('status')).textContent).toContain('Two-step sign-in is on. Your other sessions were signed out');
    expect(client.totpEnable).toHaveBeenLastCalledWith({ code: '123456' });
    expect(screen.getByRole('button', { name: 'Turn off' })).toBeTruthy();
  });

  it('turns off with the password and a code', async () => {
    const client = totpClient(true);
    render(<TotpSection client={client} />);
    await screen.findByRole('button', { name: 'Turn off' });
    type('Password', 'my password');
    type('6-digit code from the app', '654321');
    fireEvent.click(screen.getByRole('button', { name: 'Turn off' }));
    expect((await screen.findByRole('status')).textContent).toBe('Two-step sign-in is off.');
    expect(client.totpDisable).toHaveBeenCalledWith({ password: 'my password', code: '654321' });
    expect(screen.getByRole('button', { name: 'Set up two-step sign-in' })).toBeTruthy();
  });
});

describe('app passwords', () => {
  const phone: AppPasswordDto = { id: 1, name: 'Phone', createdAt: '2024-03-01T09:00:00.000Z', lastUsedAt: '2024-03-02T09:00:00.000Z' };

  function client(): AppPasswordClient & { [K in keyof AppPasswordClient]: ReturnType<typeof vi.fn> } {
    const items = [phone];
    return {
      appPasswords: vi.fn(async () => ({ appPasswords: [...items] })),
      createAppPassword: vi.fn(async (body: { name: string }) => {
        items.push({ id: 2, name: body.name, createdAt: '2024-03-03T09:00:00.000Z', lastUsedAt: null });
        return { id: 2, name: body.name, password: 'abcd efgh ijkl mnop' };
      }),
      revokeAppPassword: vi.fn(async (id: number) => void items.splice(items.findIndex((i) => i.id === id), 1)),
    };
  }

  it('lists them with created and last-used dates', async () => {
    render(<AppPasswords client={client()} />);
    const row = (await screen.findByText('Phone')).closest('tr')!;
    expect(row.querySelectorAll('time')[0]!.getAttribute('dateTime')).toBe(phone.createdAt);
    expect(row.querySelectorAll('time')[1]!.getAttribute('dateTime')).toBe(phone.lastUsedAt);
  });

  it('creates one with a name and the account password, shows it once with a copy button', async () => {
    const api = client();
    const writeText = vi.fn(async () => undefined);
    Object.defineProperty(navigator, 'clipboard', { configurable: true, value: { writeText } });
    render(<AppPasswords client={api} />);
    await screen.findByText('Phone');
    type('Name for the app', ' Laptop ');
    type('Your password', 'account password');
    fireEvent.click(screen.getByRole('button', { name: 'Create app password' }));
    expect((await screen.findByLabelText('New app password')).textContent).toBe('abcd efgh ijkl mnop');
    expect(api.createAppPassword).toHaveBeenCalledWith({ name: 'Laptop', password: 'account password' });
    await screen.findByText('Never');
    fireEvent.click(screen.getByRole('button', { name: 'Copy' }));
    await screen.findByRole('button', { name: 'Copied' });
    expect(writeText).toHaveBeenCalledWith('abcd efgh ijkl mnop');
    expect((screen.getByLabelText('Your password') as HTMLInputElement).value).toBe('');
  });

  it('revokes one', async () => {
    const api = client();
    render(<AppPasswords client={api} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Revoke Phone' }));
    await screen.findByText('No app passwords yet.');
    expect(api.revokeAppPassword).toHaveBeenCalledWith(1);
  });
});

describe('the undo-send delay', () => {
  it('shows the saved delay and saves a new one, putting it back when the API refuses', async () => {
    const save = vi.fn(async (body: { undoSendSeconds?: number }) => ({ undoSendSeconds: body.undoSendSeconds!, displayName: null, signature: '' }));
    render(<UndoSendSetting load={async () => ({ undoSendSeconds: 10, displayName: null, signature: '' })} save={save} />);
    const select = screen.getByLabelText('Time to undo a sent message') as HTMLSelectElement;
    await waitFor(() => expect(select.value).toBe('10'));
    fireEvent.change(select, { target: { value: '20' } });
    await screen.findByText('Saved.');
    expect(save).toHaveBeenCalledWith({ undoSendSeconds: 20 });

    save.mockRejectedValueOnce(new ApiError(500, 'http', 'The server had a problem. Try again in a moment.'));
    fireEvent.change(select, { target: { value: '0' } });
    expect((await screen.findByRole('alert')).textContent).toContain('The server had a problem.');
    expect(select.value).toBe('20');
  });
});
