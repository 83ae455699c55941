/**
 * The outbound queue: recipients still waiting (queued, or deferred with the remote's last reply
 * and the next attempt), with "Retry now" and "Cancel" (the sender then gets a bounce notice).
 */
import { useCallback, useState } from 'react';
import type { AdminQueuedDeliveryDto } from '@mailyard/core/contracts';
import type { AdminApi } from '../../api/client';
import { ErrorBlock, formatTime, useAction, useResource } from './shared';

type QueueApi = Pick<AdminApi, 'outbound' | 'retryDelivery' | 'cancelDelivery'>;
type Filter = '' | 'queued' | 'deferred';

export function QueueView({ api }: { api: QueueApi }) {
  const [status, setStatus] = useState<Filter>('deferred');
  const queue = useResource(useCallback(() => api.outbound({ status: status || undefined }), [api, status]));
  const [cancelling, setCancelling] = useState<AdminQueuedDeliveryDto | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const action = useAction();

  const retry = async (d: AdminQueuedDeliveryDto) => {
    setNotice(null);
    if (await action.run(() => api.retryDelivery(d.id))) setNotice(`Retrying ${d.recipient} now.`);
    queue.reload();
  };

  return (
    <div className="admin-section">
      <div className="admin-filters">
        <label>
          Show
          <select value={status} onChange={(e) => setStatus(e.target.value as Filter)}>
            <option value="deferred">Deferred</option>
            <option value="queued">Queued</option>
            <option value="">All waiting</option>
          </select>
        </label>
        <button type="button" onClick={queue.reload} disabled={queue.loading}>
          Refresh
        </button>
      </div>
      {action.error && <p className="error" role="alert">{action.error}</p>}
      {notice && <p role="status">{notice}</p>}
      {queue.error && <ErrorBlock message={queue.error} onRetry={queue.reload} />}
      {queue.data && queue.data.deliveries.length === 0 && <p className="empty">Nothing is waiting. Every message has left or been settled.</p>}
      {queue.data && queue.data.deliveries.length > 0 && (
        <table className="admin-table">
          <thead>
            <tr>
              <th scope="col">Recipient</th>
              <th scope="col">From</th>
              <th scope="col">Last reply</th>
              <th scope="col">Next attempt</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {queue.data.deliveries.map((d) => (
              <tr key={d.id} data-status={d.status}>
                <th scope="row">
                  {d.recipient}
                  <span className="muted sub">{d.subject || '(no subject)'}</span>
                </th>
                <td>{d.sender}</td>
                <td>
                  <span className={`status-${d.status}`}>{d.status}</span>
                  {d.attempts > 0 && <span className="muted"> · {d.attempts === 1 ? '1 attempt' : `${d.attempts} attempts`}</span>}
                  {d.lastReply && <span className="reply">{d.lastReply}</span>}
                </td>
                <td className="time">{d.inProgress ? 'Being delivered now' : formatTime(d.nextAttemptAt)}</td>
                <td className="row-actions">
                  <button type="button" aria-label={`Retry now: ${d.recipient}`} disabled={d.inProgress || action.busy} onClick={() => void retry(d)}>
                    Retry now
                  </button>
                  <button type="button" aria-label={`Cancel delivery to ${d.recipient}`} disabled={d.inProgress || action.busy} onClick={() => setCancelling(d)}>
                    Cancel
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cancelling && (
        <div className="dialog-backdrop">
          <div className="dialog" role="dialog" aria-modal="true" aria-labelledby="cancel-title">
            <h2 id="cancel-title">Stop delivering to {cancelling.recipient}?</h2>
            <p>The message is not tried again, and {cancelling.sender} gets a notice that it was not delivered.</p>
            <div className="dialog-actions">
              <button type="button" onClick={() => setCancelling(null)}>
                Keep trying
              </button>
              <button
                type="button"
                className="danger"
                onClick={() => {
                  const d = cancelling;
                  setCancelling(null);
                  void action.run(() => api.cancelDelivery(d.id)).then((ok) => {
                    if (ok) setNotice(`Cancelled delivery to ${d.recipient}.`);
                    queue.reload();
                  });
                }}
              >
                Cancel delivery
              </button>
            </div>
          </div>
        </div>
      )}
    </div>
  );
}
