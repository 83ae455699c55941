/**
 * The compose dock: the Compose button, the open compose windows (docked bottom-right, several at
 * once), and the "Sending… Undo" toast of each held send. Opens a window for `c`, for the
 * reader's Reply / Reply all / Forward buttons and for r / a / f on the open message
 * (compose-store.ts). Undo cancels the held send (POST /api/messages/scheduled/:id/cancel) and
 * reopens the window with what was written. It stays mounted while a session is renewed, so
 * open windows keep their content.
 */
import { useCallback, useEffect, useState } from 'react';
import type { SendBody, SendResponse } from '@mailyard/core/contracts';
import { api, ApiError } from '../../api/client';
import { currentReplyTarget, onComposeRequest, openCompose, type ComposeRequest } from './compose-store';
import { ComposeWindow, type ComposeInitial } from './compose-window';
import { answerFields } from './recipients';
import { withSignature } from './signature';

interface OpenWindow {
  key: number;
  initial: ComposeInitial;
  title: string;
}

interface HeldToast {
  scheduledId: number;
  sendAt: number;
  scheduled: boolean;
  state: 'held' | 'sent' | 'undoing' | 'failed';
  message?: string;
}

let nextWindow = 0;

interface ComposeDockProps {
  me: string;
  inert?: boolean;
  /** The Compose button: shown in the mail views only (the windows stay open everywhere). */
  showButton?: boolean;
}

export function ComposeDock({ me, inert = false, showButton = true }: ComposeDockProps) {
  const [windows, setWindows] = useState<OpenWindow[]>([]);
  const [toasts, setToasts] = useState<HeldToast[]>([]);
  const [, setTick] = useState(0);

  const open = useCallback(
    async (request: ComposeRequest) => {
      if (request.kind === 'restore') return setWindows((w) => [...w, { key: nextWindow++, initial: request.message, title: 'New message' }]);
      // New mail, replies and forwards start with the signature (none when the settings cannot be read).
      const signature = api.accountSettings().then(
        (s) => s.signature,
        () => '',
      );
      const add = async (initial: ComposeInitial, title: string) => {
        const withSig = withSignature(initial, await signature);
        setWindows((w) => [...w, { key: nextWindow++, initial: withSig, title }]);
      };
      if (request.kind === 'new') return add({}, 'New message');
      try {
        const original = await api.message(request.messageId);
        const fields = answerFields(request.kind, original, me);
        return add(
          request.kind === 'forward' ? { ...fields, forwardOf: original.id } : { ...fields, inReplyTo: original.id, quoteOriginal: true },
          request.kind === 'forward' ? 'Forward' : 'Reply',
        );
      } catch {
        return add({}, 'New message');
      }
    },
    [me],
  );

  useEffect(() => onComposeRequest((r) => void open(r)), [open]);

  useEffect(() => {
    if (inert) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.shiftKey) return;
      const target = e.target as HTMLElement | null;
      if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
      if (document.querySelector('.dialog-backdrop')) return;
      const replyTo = currentReplyTarget();
      const kind = ({ c: 'new', r: 'reply', a: 'replyAll', f: 'forward' } as const)[e.key as 'c' | 'r' | 'a' | 'f'];
      if (!kind || (kind !== 'new' && replyTo === null)) return;
      e.preventDefault();
      openCompose(kind === 'new' ? { kind } : { kind, messageId: replyTo! });
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [inert]);

  // Held sends count down; each turns "Sent" when its time has come.
  useEffect(() => {
    if (toasts.length === 0) return;
    const timer = setInterval(() => {
      const now = Date.now();
      setTick((t) => t + 1);
      setToasts((list) =>
        list
          .map((t) => (t.state === 'held' && !t.scheduled && t.sendAt <= now ? { ...t, state: 'sent' as const } : t))
          .filter((t) => !((t.state === 'sent' || t.scheduled) && t.sendAt + 5_000 <= now && t.state !== 'undoing')),
      );
    }, 250);
    return () => clearInterval(timer);
  }, [toasts.length]);

  const sent = (key: number, result: SendResponse) => {
    setWindows((w) => w.filter((x) => x.key !== key));
    const sendAt = new Date(result.sendAt).getTime();
    const scheduled = sendAt - Date.now() > 60_000;
    setToasts((list) => [...list, { scheduledId: result.scheduledId, sendAt: scheduled ? Date.now() + 10_000 : sendAt, scheduled, state: result.sent ? 'sent' : 'held', message: scheduled ? `Scheduled for ${new Date(result.sendAt).toLocaleString()}` : undefined }]);
  };

  const undo = async (toast: HeldToast) => {
    const update = (change: Partial<HeldToast>) => setToasts((list) => list.map((t) => (t.scheduledId === toast.scheduledId ? { ...t, ...change } : t)));
    update({ state: 'undoing' });
    try {
      const held = await api.cancelScheduled(toast.scheduledId);
      setToasts((list) => list.filter((t) => t.scheduledId !== toast.scheduledId));
      openCompose({ kind: 'restore', message: held.message as Omit<SendBody, 'sendAt'> });
    } catch (err) {
      update({ state: 'failed', message: err instanceof ApiError ? err.message : 'The message could not be stopped.', sendAt: Date.now() });
    }
  };

  return (
    <div className="compose-dock" inert={inert}>
      {showButton && (
        <button type="button" className="compose-button primary" onClick={() => openCompose({ kind: 'new' })} title="Compose (c)">
          Compose
        </button>
      )}
      <div className="compose-windows">
        {windows.map((w) => (
          <ComposeWindow key={w.key} initial={w.initial} title={w.title} api={api} onSent={(result) => sent(w.key, result)} onClose={() => setWindows((list) => list.filter((x) => x.key !== w.key))} />
        ))}
      </div>
      <div className="compose-toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.scheduledId} className="toast send-toast" role="status">
            {t.state === 'held' && !t.scheduled && <span>Sending… {Math.max(0, Math.ceil((t.sendAt - Date.now()) / 1000))} s</span>}
            {t.scheduled && t.state === 'held' && <span>{t.message}</span>}
            {t.state === 'sent' && <span>Sent</span>}
            {t.state === 'undoing' && <span>Stopping…</span>}
            {t.state === 'failed' && <span>{t.message}</span>}
            {t.state === 'held' && (
              <button type="button" onClick={() => void undo(t)}>
                Undo
              </button>
            )}
          </div>
        ))}
      </div>
    </div>
  );
}
