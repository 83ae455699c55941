// @vitest-environment happy-dom
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccountName } from './account-name';

/** The top bar's account label, against a fake fetch answering GET /api/account/settings. */
function answer(status: number, body: unknown) {
  globalThis.fetch = vi.fn(async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })) as unknown as typeof fetch;
}

describe('AccountName', () => {
  const realFetch = globalThis.fetch;
  afterEach(() => {
    cleanup();
    globalThis.fetch = realFetch;
  });

  it('shows the display name, with the address as its tooltip', async () => {
    answer(200, { undoSendSeconds: 10, displayName: 'Ann Example', signature: '' });
    render(<AccountName address="ann@example.test" />);
    const name = await screen.findByText('Ann Example');
    expect(name.getAttribute('title')).toBe('ann@example.test');
  });

  it('shows the address when no name is set', async () => {
    answer(200, { undoSendSeconds: 10, displayName: null, signature: '' });
    render(<AccountName address="ann@example.test" />);
    expect((await screen.findByText('ann@example.test')).getAttribute('title')).toBeNull();
    expect(globalThis.fetch).toHaveBeenCalled();
  });

  it('keeps the address when the settings cannot be read', async () => {
    answer(503, { error: { code: 'service.unavailable', message: 'try again' } });
    render(<AccountName address="ann@example.test" />);
    await vi.waitFor(() => expect(globalThis.fetch).toHaveBeenCalled());
    expect(screen.getByText('ann@example.test')).toBeTruthy();
  });
});
