// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { AdminDnsCheckedRecordDto } from '@mailyard/core/contracts';
import { DomainsView } from './domains-view';

afterEach(cleanup);

const records: AdminDnsCheckedRecordDto[] = [
  { type: 'MX', name: 'a.test', value: 'mx.a.test.', purpose: 'mx', priority: 10, ok: true, found: ['10 mx.a.test.'] },
  { type: 'TXT', name: 'a.test', value: 'v=spf1 mx -all', purpose: 'spf', ok: false, found: ['v=spf1 -all'] },
];

function fakeApi() {
  return {
    domains: vi.fn(async () => ({ domains: [{ id: 1, name: 'a.test', createdAt: '2024-03-03T10:00:00.000Z' }] })),
    addDomain: vi.fn(async (name: string) => ({ id: 2, name, createdAt: '2024-03-03T10:00:00.000Z' })),
    removeDomain: vi.fn(async () => ({ ok: true as const })),
    dns: vi.fn(async () => ({ records })),
    rotateDkim: vi.fn(async () => ({ selector: 's2024b', dnsRecord: { type: 'TXT' as const, name: 's2024b._domainkey.a.test', value: 'v=DKIM1; k=rsa; p=AAA', purpose: 'dkim' as const } })),
  };
}

describe('DomainsView', () => {
  it('shows each record to publish with a live ✓ or ✕ and what was found instead', async () => {
    const api = fakeApi();
    render(<DomainsView api={api} fullAdmin />);
    fireEvent.click(await screen.findByRole('button', { name: 'DNS and DKIM' }));
    const panel = await screen.findByRole('region', { name: 'DNS records for a.test' });
    const [mx, spf] = await within(panel).findAllByRole('listitem');
    expect(within(mx!).getByLabelText('found').textContent).toBe('✓');
    expect(within(spf!).getByLabelText('missing').textContent).toBe('✕');
    expect(spf!.textContent).toContain('Found instead: v=spf1 -all');
    expect(mx!.textContent).toContain('10 mx.a.test.');

    fireEvent.click(within(panel).getByRole('button', { name: 'Rotate DKIM key' }));
    await within(panel).findByText('s2024b');
    expect(api.dns).toHaveBeenCalledTimes(2);
  });

  it('removes a domain only once its name is typed', async () => {
    const api = fakeApi();
    render(<DomainsView api={api} fullAdmin />);
    fireEvent.click(await screen.findByRole('button', { name: 'Remove' }));
    const dialog = screen.getByRole('dialog', { name: 'Remove a.test?' });
    const remove = within(dialog).getByRole('button', { name: 'Remove domain' }) as HTMLButtonElement;
    expect(remove.disabled).toBe(true);
    fireEvent.change(within(dialog).getByLabelText('Type the domain name to confirm'), { target: { value: 'a.tes' } });
    expect(remove.disabled).toBe(true);
    fireEvent.change(within(dialog).getByLabelText('Type the domain name to confirm'), { target: { value: 'a.test' } });
    fireEvent.click(remove);
    await waitFor(() => expect(api.removeDomain).toHaveBeenCalledWith('a.test'));
  });

  it('gives a domain-admin no add or remove controls', async () => {
    render(<DomainsView api={fakeApi()} fullAdmin={false} />);
    await screen.findByRole('button', { name: 'DNS and DKIM' });
    expect(screen.queryByRole('button', { name: 'Remove' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Add domain' })).toBeNull();
  });
});
