// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen, within } from '@testing-library/react';
import type { AdminStatsResponse } from '@mailyard/core/contracts';
import { Dashboard } from './dashboard';

afterEach(cleanup);

const MB = 1024 * 1024;

function stats(storage: AdminStatsResponse['storage']): AdminStatsResponse {
  const hours = Array.from({ length: 24 }, (_, i) => ({ hour: new Date(Date.UTC(2030, 2, 3, i)).toISOString(), received: i === 23 ? 5 : 0, sent: i === 23 ? 2 : 0 }));
  return { hours, queue: { queued: 1, deferred: 2 }, outcomes: { delivered: 3, deferred: 2, bounced: 1, expired: 0 }, storage };
}

describe('Dashboard', () => {
  it('shows the total stored and the largest users with their quota use', async () => {
    const api = {
      stats: vi.fn(async () =>
        stats({
          usedBytes: 30 * MB,
          users: 3,
          top: [
            { id: 2, address: 'big@a.test', usedBytes: 20 * MB, quotaBytes: 80 * MB },
            { id: 1, address: 'mid@a.test', usedBytes: 10 * MB, quotaBytes: null },
            { id: 3, address: 'new@a.test', usedBytes: 0, quotaBytes: null },
          ],
        }),
      ),
    };
    render(<Dashboard api={api} />);
    const totals = await screen.findByRole('region', { name: 'Totals' });
    expect(within(totals).getByText('Stored by 3 users').parentElement!.textContent).toContain('30.0 MB');
    const table = within(screen.getByRole('region', { name: 'Largest users' })).getByRole('table');
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows.map((r) => r.textContent)).toEqual(['big@a.test20.0 MB80.0 MB (25%)', 'mid@a.test10.0 MBnone', 'new@a.test0 Bnone']);
  });

  it('says so when there are no users', async () => {
    render(<Dashboard api={{ stats: async () => stats({ usedBytes: 0, users: 0, top: [] }) }} />);
    expect(await screen.findByText('No users yet.')).toBeTruthy();
    expect(screen.getByText('Stored by 0 users').parentElement!.textContent).toContain('0 B');
  });
});
