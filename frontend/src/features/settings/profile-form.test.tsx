// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import type { AccountSettingsBody } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { ProfileForm } from './profile-form';

afterEach(cleanup);

const saved = { undoSendSeconds: 10, displayName: 'Ann' as string | null, signature: 'Ann\nExample Co.' };

describe('the name and signature section', () => {
  it('shows the saved name and signature and saves both, as the API answers them', async () => {
    const save = vi.fn(async (body: AccountSettingsBody) => ({ ...saved, displayName: body.displayName?.trim() || null, signature: body.signature ?? '' }));
    render(<ProfileForm load={async () => saved} save={save} />);
    const name = screen.getByLabelText('Display name') as HTMLInputElement;
    const signature = screen.getByLabelText('Signature') as HTMLTextAreaElement;
    await waitFor(() => expect(name.value).toBe('Ann'));
    expect(signature.value).toBe('Ann\nExample Co.');

    fireEvent.change(name, { target: { value: ' Ann Example ' } });
    fireEvent.change(signature, { target: { value: 'Ann E.' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save name and signature' }));
    await screen.findByText('Saved.');
    expect(save).toHaveBeenCalledWith({ displayName: ' Ann Example ', signature: 'Ann E.' });
    expect(name.value).toBe('Ann Example');
  });

  it('keeps what was typed and says why when the API refuses', async () => {
    const save = vi.fn(async () => Promise.reject(new ApiError(400, 'request.invalid', 'Check the name: one line without control characters.')));
    render(<ProfileForm load={async () => saved} save={save} />);
    const name = screen.getByLabelText('Display name') as HTMLInputElement;
    await waitFor(() => expect(name.value).toBe('Ann'));
    fireEvent.change(name, { target: { value: 'Ann the Second' } });
    fireEvent.click(screen.getByRole('button', { name: 'Save name and signature' }));
    expect((await screen.findByRole('alert')).textContent).toContain('one line');
    expect(name.value).toBe('Ann the Second');
  });
});
