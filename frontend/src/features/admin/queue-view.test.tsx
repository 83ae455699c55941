// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { AdminQueuedDeliveryDto } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { QueueView } from './queue-view';

afterEach(cleanup);

function delivery(id: number, patch: Partial<AdminQueuedDeliveryDto> = {}): AdminQueuedDeliveryDto {
  return {
    id,
    outboundId: 1,
    sender: 'sue@a.test',
    recipient: `r${id}@far.test`,
    subject: 'Quarterly plan',
    status: 'deferred',
    attempts: 2,
    lastReply: '451 4.7.1 greylisted',
    remoteMta: 'mx.far.test',
    nextAttemptAt: '2030-03-03T10:00:00.000Z',
    inProgress: false,
    createdAt: '2030-03-03T09:00:00.000Z',
    ...patch,
  };
}

function fakeApi(list: AdminQueuedDeliveryDto[]) {
  return {
    outbound: vi.fn(async () => ({ deliveries: list, nextAfter: null })),
    retryDelivery: vi.fn(async (id: number) => ({ ...list.find((d) => d.id === id)!, nextAttemptAt: new Date().toISOString() })),
    cancelDelivery: vi.fn(async (id: number) => ({ ...list.find((d) => d.id === id)!, status: 'bounced' as const })),
  };
}

describe('QueueView', () => {
  it('lists deferred mail with its last reply and attempts, and filters by status', async () => {
    const api = fakeApi([delivery(1)]);
    render(<QueueView api={api} />);
    const row = (await screen.findByRole('rowheader', { name: /r1@far\.test/ })).closest('tr')!;
    expect(row.textContent).toContain('451 4.7.1 greylisted');
    expect(row.textContent).toContain('2 attempts');
    expect(row.textContent).toContain('sue@a.test');
    expect(api.outbound).toHaveBeenLastCalledWith({ status: 'deferred' });
    fireEvent.change(screen.getByLabelText('Show'), { target: { value: '' } });
    await waitFor(() => expect(api.outbound).toHaveBeenLastCalledWith({ status: undefined }));
  });

  it('retries now and reloads the queue', async () => {
    const api = fakeApi([delivery(1), delivery(2)]);
    render(<QueueView api={api} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Retry now: r2@far.test' }));
    await screen.findByText('Retrying r2@far.test now.');
    expect(api.retryDelivery).toHaveBeenCalledWith(2);
    expect(api.outbound).toHaveBeenCalledTimes(2);
  });

  it('cancels only after confirming, telling that the sender gets a notice', async () => {
    const api = fakeApi([delivery(1)]);
    render(<QueueView api={api} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Cancel delivery to r1@far.test' }));
    const dialog = screen.getByRole('dialog', { name: 'Stop delivering to r1@far.test?' });
    expect(dialog.textContent).toContain('sue@a.test gets a notice');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Keep trying' }));
    expect(api.cancelDelivery).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Cancel delivery to r1@far.test' }));
    fireEvent.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Cancel delivery' }));
    await screen.findByText('Cancelled delivery to r1@far.test.');
    expect(api.cancelDelivery).toHaveBeenCalledWith(1);
  });

  it('disables the actions while a worker delivers, and shows a refusal in words', async () => {
    const api = fakeApi([delivery(1, { inProgress: true }), delivery(2)]);
    api.retryDelivery.mockRejectedValueOnce(new ApiError(409, 'outbound.in_progress', 'A delivery attempt is under way right now; try again in a moment.'));
    render(<QueueView api={api} />);
    expect(((await screen.findByRole('button', { name: 'Retry now: r1@far.test' })) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByRole('rowheader', { name: /r1@far\.test/ }).closest('tr')!.textContent).toContain('Being delivered now');
    fireEvent.click(screen.getByRole('button', { name: 'Retry now: r2@far.test' }));
    expect((await screen.findByRole('alert')).textContent).toBe('A delivery attempt is under way right now; try again in a moment.');
  });
});
