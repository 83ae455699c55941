/**
 * Where a sent message stands, per recipient (GET /api/messages/:id/delivery), updated live by
 * the `delivery.status` events: queued, delivered with the remote server's reply, deferred with
 * the reason and the next attempt, bounced with the reason. A message with no delivery record
 * (one not sent from here) shows nothing.
 */
import { useEffect, useState } from 'react';
import type { DeliveryDto, OutboundDto, UserEvent } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { fullDate } from './format';

export type DeliveryEvent = Extract<UserEvent, { type: 'delivery.status' }>;

interface DeliveryStripProps {
  messageId: number;
  load(id: number): Promise<OutboundDto>;
  /** The latest delivery event of the live feed (any message's). */
  event: DeliveryEvent | null;
}

const icon: Record<DeliveryDto['status'], string> = { queued: '○', deferred: '◐', delivered: '●', bounced: '✕', expired: '✕' };

/** One recipient's line, in words. */
export function deliveryText(d: Pick<DeliveryDto, 'status' | 'lastReply' | 'nextAttemptAt'>): string {
  const reply = d.lastReply ? ` (“${d.lastReply}”)` : '';
  switch (d.status) {
    case 'queued':
      return 'queued, not sent yet';
    case 'delivered':
      return `delivered${reply}`;
    case 'deferred':
      return `deferred${d.nextAttemptAt ? `, next try ${fullDate(d.nextAttemptAt)}` : ''}${reply}`;
    case 'bounced':
      return `bounced${reply}`;
    case 'expired':
      return `gave up after retrying${reply}`;
  }
}

export function DeliveryStrip({ messageId, load, event }: DeliveryStripProps) {
  const [outbound, setOutbound] = useState<OutboundDto | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    load(messageId).then(
      (o) => !cancelled && setOutbound(o),
      (err: unknown) => {
        if (cancelled || (err instanceof ApiError && err.code === 'outbound.not_found')) return;
        setError(err instanceof ApiError ? err.message : 'The delivery status could not be loaded.');
      },
    );
    return () => {
      cancelled = true;
    };
  }, [load, messageId]);

  useEffect(() => {
    if (!event || event.sentMessageId !== messageId) return;
    setOutbound((o) =>
      o
        ? {
            ...o,
            recipients: o.recipients.map((r) =>
              r.recipient === event.recipient ? { ...r, status: event.status, lastReply: event.reply ?? r.lastReply, nextAttemptAt: event.nextAttemptAt } : r,
            ),
          }
        : o,
    );
  }, [event, messageId]);

  if (error) return <p className="delivery muted">{error}</p>;
  if (!outbound || outbound.recipients.length === 0) return null;
  return (
    <section className="delivery" aria-label="Delivery">
      <h3>Delivery</h3>
      <ul>
        {outbound.recipients.map((r) => (
          <li key={r.recipient} className={`delivery-${r.status}`} data-status={r.status}>
            <span aria-hidden="true">{icon[r.status]}</span> <span className="recipient">{r.recipient}</span> <span className="muted">{deliveryText(r)}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
