// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { api } from '../../api/client';
import { ComposeDock } from './compose-dock';
import { withSignature } from './signature';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

describe('the compose dock', () => {
  it('shows the Compose button in the mail views only (the app hides it on Settings and Admin)', () => {
    const { rerender } = render(<ComposeDock me="me@example.test" />);
    expect(screen.getByRole('button', { name: 'Compose' })).toBeTruthy();
    rerender(<ComposeDock me="me@example.test" showButton={false} />);
    expect(screen.queryByRole('button', { name: 'Compose' })).toBeNull();
  });

  it('opens new mail with the signature from the settings under a "-- " line', async () => {
    vi.spyOn(api, 'accountSettings').mockResolvedValue({ undoSendSeconds: 10, displayName: 'Me', signature: 'Me\nExample Co.' });
    render(<ComposeDock me="me@example.test" />);
    fireEvent.click(screen.getByRole('button', { name: 'Compose' }));
    const editor = await screen.findByRole('textbox', { name: 'Message' }, { timeout: 10_000 });
    await waitFor(() => expect(editor.innerHTML).toContain('-- <br>Me<br>Example Co.'));
  });
});

describe('withSignature', () => {
  it('puts the signature under "-- " after two empty lines, and adds nothing without one', () => {
    expect(withSignature({ subject: 'Re: x', inReplyTo: 3 }, 'Ann\nExample Co.')).toEqual({ subject: 'Re: x', inReplyTo: 3, text: '\n\n-- \nAnn\nExample Co.' });
    expect(withSignature({ subject: 'Fwd: x' }, '  \n')).toEqual({ subject: 'Fwd: x' });
  });
});
