// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { ScheduledSendDto } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { ScheduledList } from './scheduled-list';

afterEach(cleanup);

function held(id: number, subject: string, sendAt: string): ScheduledSendDto {
  return { id, sendAt, status: 'pending', error: null, message: { to: [`friend${id}@example.test`], subject, text: 'Body' } };
}

describe('ScheduledList', () => {
  it('lists the held messages with their recipients, subjects and send times', async () => {
    const items = [held(1, 'Birthday wishes', '2030-05-01T08:00:00.000Z'), held(2, '', '2030-06-01T08:00:00.000Z')];
    render(<ScheduledList load={async () => ({ scheduled: items })} cancel={vi.fn()} onEdit={vi.fn()} />);
    const list = await screen.findByRole('list', { name: 'Scheduled messages' });
    const rows = within(list).getAllByRole('listitem');
    expect(rows).toHaveLength(2);
    expect(rows[0]!.textContent).toContain('To: friend1@example.test');
    expect(rows[0]!.textContent).toContain('Birthday wishes');
    expect(rows[0]!.querySelector('time')!.getAttribute('datetime')).toBe('2030-05-01T08:00:00.000Z');
    expect(rows[1]!.textContent).toContain('(no subject)');
  });

  it('says so when nothing is scheduled', async () => {
    render(<ScheduledList load={async () => ({ scheduled: [] })} cancel={vi.fn()} onEdit={vi.fn()} />);
    await screen.findByText(/No scheduled messages/);
  });

  it('cancels a message, reopens it for editing and drops it from the list', async () => {
    let items = [held(5, 'Later', '2030-05-01T08:00:00.000Z')];
    const cancel = vi.fn(async (id: number) => {
      const item = items.find((i) => i.id === id)!;
      items = [];
      return { ...item, status: 'cancelled' as const };
    });
    const onEdit = vi.fn();
    render(<ScheduledList load={async () => ({ scheduled: items })} cancel={cancel} onEdit={onEdit} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Cancel and edit' }));
    await waitFor(() => expect(onEdit).toHaveBeenCalledWith({ to: ['friend5@example.test'], subject: 'Later', text: 'Body' }));
    expect(cancel).toHaveBeenCalledWith(5);
    await screen.findByText(/No scheduled messages/);
  });

  it('shows why a message could not be stopped (already sent) and does not open it', async () => {
    const onEdit = vi.fn();
    let items = [held(6, 'Too late', '2030-05-01T08:00:00.000Z')];
    const cancel = vi.fn(async () => {
      items = [];
      throw new ApiError(409, 'scheduled.not_pending', 'Too late: the message has already been sent.');
    });
    render(<ScheduledList load={async () => ({ scheduled: items })} cancel={cancel} onEdit={onEdit} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Cancel and edit' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Too late: the message has already been sent.');
    expect(onEdit).not.toHaveBeenCalled();
  });

  it('offers a retry when the list cannot be loaded', async () => {
    let fail = true;
    const load = vi.fn(async () => {
      if (fail) throw new ApiError(503, 'unavailable', 'The server is busy.');
      return { scheduled: [held(7, 'Back', '2030-05-01T08:00:00.000Z')] };
    });
    render(<ScheduledList load={load} cancel={vi.fn()} onEdit={vi.fn()} />);
    expect((await screen.findByRole('alert')).textContent).toContain('The server is busy.');
    fail = false;
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    await screen.findByText('Back');
  });
});
