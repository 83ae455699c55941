/**
 * The "Scheduled" view: messages held for a later send (scheduled send, or still inside the undo
 * delay), soonest first. "Cancel and edit" stops the send on the server (it answers with the
 * message as composed) and reopens it in a compose window; a message that has already gone
 * says so. The list is read from GET /api/messages/scheduled each time the view opens.
 */
import { useCallback, useEffect, useState } from 'react';
import type { ScheduledSendDto, ScheduledSendListResponse } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';

export interface ScheduledListProps {
  load(): Promise<ScheduledSendListResponse>;
  cancel(id: number): Promise<ScheduledSendDto>;
  /** The cancelled message, to reopen in a compose window. */
  onEdit(message: ScheduledSendDto['message']): void;
}

type State = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; items: ScheduledSendDto[] };

export function ScheduledList({ load, cancel, onEdit }: ScheduledListProps) {
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<number | null>(null);

  const refresh = useCallback(async () => {
    try {
      const { scheduled } = await load();
      setState({ kind: 'ready', items: scheduled });
    } catch (err) {
      setState({ kind: 'error', message: err instanceof ApiError ? err.message : 'The scheduled messages could not be loaded.' });
    }
  }, [load]);
  useEffect(() => {
    void refresh();
  }, [refresh]);

  const cancelAndEdit = async (item: ScheduledSendDto) => {
    setBusy(item.id);
    setNotice(null);
    try {
      const held = await cancel(item.id);
      onEdit(held.message);
    } catch (err) {
      setNotice(err instanceof ApiError ? err.message : 'The message could not be stopped.');
    } finally {
      setBusy(null);
      await refresh();
    }
  };

  if (state.kind === 'loading') return <p className="empty">Loading…</p>;
  if (state.kind === 'error')
    return (
      <div className="error-block" role="alert">
        <p>{state.message}</p>
        <button type="button" onClick={() => void refresh()}>
          Retry
        </button>
      </div>
    );
  return (
    <div className="scheduled">
      {notice && (
        <p className="error-block" role="alert">
          {notice}
        </p>
      )}
      {state.items.length === 0 ? (
        <p className="empty">No scheduled messages. Choose "Send later" in a compose window to schedule one.</p>
      ) : (
        <ul aria-label="Scheduled messages">
          {state.items.map((item) => (
            <li key={item.id} className="scheduled-item">
              <div className="scheduled-text">
                <span className="sender">To: {item.message.to.join(', ')}</span>
                <span className="subject">{item.message.subject || '(no subject)'}</span>
                <time dateTime={item.sendAt}>Sends {new Date(item.sendAt).toLocaleString()}</time>
              </div>
              <button type="button" disabled={busy === item.id} onClick={() => void cancelAndEdit(item)}>
                Cancel and edit
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
