// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { ApiError } from '../../api/client';
import { StorageUsage } from './storage-usage';

afterEach(cleanup);

const MB = 1024 * 1024;

describe('the storage section', () => {
  it('shows "X of Y used" with a bar filled to the share used', async () => {
    render(<StorageUsage load={async () => ({ usedBytes: 30 * MB, quotaBytes: 100 * MB })} />);
    expect((await screen.findByText(/of 100\.0 MB used/)).textContent).toContain('30.0 MB of 100.0 MB used');
    const bar = document.querySelector('meter')!;
    expect([bar.getAttribute('value'), bar.getAttribute('max')]).toEqual([String(30 * MB), String(100 * MB)]);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('says what a full mailbox means', async () => {
    render(<StorageUsage load={async () => ({ usedBytes: 101 * MB, quotaBytes: 100 * MB })} />);
    expect((await screen.findByRole('alert')).textContent).toMatch(/mailbox is full: new mail waits/);
    expect(document.querySelector('meter')!.getAttribute('value')).toBe(String(100 * MB));
  });

  it('shows the use alone without a quota, and an error in words', async () => {
    render(<StorageUsage load={async () => ({ usedBytes: 2048, quotaBytes: null })} />);
    expect(await screen.findByText('2 KB used (no limit)')).toBeTruthy();
    cleanup();
    render(<StorageUsage load={async () => Promise.reject(new ApiError(500, 'internal', 'The server had a problem. Try again in a moment.'))} />);
    expect((await screen.findByRole('alert')).textContent).toBe('The server had a problem. Try again in a moment.');
  });
});
