/**
 * What can be done to some messages, and the three places it is offered from: the bar above the
 * list while messages are selected, the right-click menu of a row, and the confirmation asked
 * before deleting forever (the one action nothing can undo). `actionsFor` decides, once, which
 * actions fit the folder and the messages; the bar and the menu only lay them out.
 */
import { useEffect, useId, useRef, type KeyboardEvent as ReactKeyboardEvent } from 'react';
import type { MailboxDto, MessageListItemDto } from '@mailyard/core/contracts';
import { folderName } from './folder-list';

export type MailAction =
  | { kind: 'flags'; read?: boolean; starred?: boolean }
  | { kind: 'move'; mailboxId: number }
  | { kind: 'archive' }
  | { kind: 'trash' }
  | { kind: 'restore' }
  | { kind: 'delete' }
  /** Out of Junk to the Inbox, teaching the filter (POST /api/messages/:id/not-spam). */
  | { kind: 'notSpam'; allowSender: boolean };

export interface ActionItem {
  label: string;
  /** The key that does the same (shown in the menu). */
  shortcut?: string;
  action: MailAction;
}

/** Trash and Junk: the folders whose messages can be deleted forever. */
export function isEmptyable(folder: MailboxDto | undefined): boolean {
  return folder?.specialUse === '\\Trash' || folder?.specialUse === '\\Junk';
}

/** The actions that fit these messages in this folder (undefined: search results from anywhere). */
export function actionsFor(folder: MailboxDto | undefined, messages: readonly MessageListItemDto[]): ActionItem[] {
  const items: ActionItem[] = [];
  if (messages.some((m) => m.unread)) items.push({ label: 'Mark read', shortcut: 'Shift+I', action: { kind: 'flags', read: true } });
  if (messages.some((m) => !m.unread)) items.push({ label: 'Mark unread', shortcut: 'Shift+U', action: { kind: 'flags', read: false } });
  if (messages.some((m) => !m.starred)) items.push({ label: 'Star', shortcut: 's', action: { kind: 'flags', starred: true } });
  if (messages.some((m) => m.starred)) items.push({ label: 'Remove star', shortcut: 's', action: { kind: 'flags', starred: false } });
  if (folder?.specialUse !== '\\Archive') items.push({ label: 'Archive', shortcut: 'e', action: { kind: 'archive' } });
  if (folder?.specialUse === '\\Trash') items.push({ label: 'Restore to Inbox', action: { kind: 'restore' } });
  if (folder?.specialUse === '\\Junk') items.push({ label: 'Not spam', action: { kind: 'notSpam', allowSender: false } });
  if (isEmptyable(folder)) items.push({ label: 'Delete forever', shortcut: '#', action: { kind: 'delete' } });
  else items.push({ label: 'Delete', shortcut: '#', action: { kind: 'trash' } });
  return items;
}

/** The folders messages can be moved to from `current`. */
export function moveTargets(mailboxes: readonly MailboxDto[], current: MailboxDto | undefined): MailboxDto[] {
  return mailboxes.filter((m) => m.id !== current?.id && m.specialUse !== '\\Drafts' && m.specialUse !== '\\Sent');
}

interface BulkBarProps {
  count: number;
  actions: ActionItem[];
  targets: MailboxDto[];
  onAction(action: MailAction): void;
  onClear(): void;
}

/** Shown above the list while messages are selected. */
export function BulkBar({ count, actions, targets, onAction, onClear }: BulkBarProps) {
  return (
    <div className="bulk-bar" role="toolbar" aria-label="Selected messages">
      <span className="bulk-count" aria-live="polite">
        {count} selected
      </span>
      {actions.map((item) => (
        <button key={item.label} type="button" onClick={() => onAction(item.action)}>
          {item.label}
        </button>
      ))}
      <label className="move-to">
        <span className="visually-hidden">Move to folder</span>
        <select
          value=""
          onChange={(e) => {
            if (e.target.value) onAction({ kind: 'move', mailboxId: Number(e.target.value) });
          }}
        >
          <option value="">Move to…</option>
          {targets.map((m) => (
            <option key={m.id} value={m.id}>
              {folderName(m)}
            </option>
          ))}
        </select>
      </label>
      <button type="button" onClick={onClear} aria-label="Clear the selection">
        ✕
      </button>
    </div>
  );
}

interface ActionMenuProps {
  x: number;
  y: number;
  actions: ActionItem[];
  targets: MailboxDto[];
  onAction(action: MailAction): void;
  onClose(): void;
}

/** The right-click menu of a row: the same actions, then "Move to" each folder. Arrows move, Escape closes. */
export function ActionMenu({ x, y, actions, targets, onAction, onClose }: ActionMenuProps) {
  const menu = useRef<HTMLDivElement>(null);
  useEffect(() => {
    menu.current?.querySelector<HTMLElement>('[role="menuitem"]')?.focus();
    const close = (e: MouseEvent) => {
      if (!menu.current?.contains(e.target as Node)) onClose();
    };
    window.addEventListener('mousedown', close);
    return () => window.removeEventListener('mousedown', close);
  }, [onClose]);

  const onKeyDown = (e: ReactKeyboardEvent) => {
    const items = [...(menu.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? [])];
    const at = items.indexOf(document.activeElement as HTMLElement);
    if (e.key === 'Escape') onClose();
    else if (e.key === 'ArrowDown') items[(at + 1) % items.length]?.focus();
    else if (e.key === 'ArrowUp') items[(at - 1 + items.length) % items.length]?.focus();
    else return;
    e.preventDefault();
    e.stopPropagation();
  };
  const choose = (action: MailAction) => {
    onClose();
    onAction(action);
  };

  return (
    <div ref={menu} className="menu" role="menu" aria-label="Message actions" style={{ left: x, top: y }} onKeyDown={onKeyDown}>
      {actions.map((item) => (
        <button key={item.label} type="button" role="menuitem" tabIndex={-1} onClick={() => choose(item.action)}>
          <span>{item.label}</span>
          {item.shortcut && <kbd>{item.shortcut}</kbd>}
        </button>
      ))}
      {targets.length > 0 && <div className="menu-separator" role="separator" />}
      {targets.map((m) => (
        <button key={m.id} type="button" role="menuitem" tabIndex={-1} onClick={() => choose({ kind: 'move', mailboxId: m.id })}>
          Move to {folderName(m)}
        </button>
      ))}
    </div>
  );
}

interface ConfirmProps {
  title: string;
  body: string;
  confirmLabel: string;
  onConfirm(): void;
  onCancel(): void;
}

/** A question before something that cannot be undone; Cancel has the focus, Escape cancels. */
export function ConfirmDialog({ title, body, confirmLabel, onConfirm, onCancel }: ConfirmProps) {
  const cancel = useRef<HTMLButtonElement>(null);
  const titleId = useId();
  useEffect(() => cancel.current?.focus(), []);
  return (
    <div className="dialog-backdrop">
      <div
        className="dialog"
        role="alertdialog"
        aria-modal="true"
        aria-labelledby={titleId}
        onKeyDown={(e) => {
          if (e.key !== 'Escape') return;
          e.stopPropagation();
          onCancel();
        }}
      >
        <h2 id={titleId}>{title}</h2>
        <p>{body}</p>
        <div className="dialog-actions">
          <button ref={cancel} type="button" onClick={onCancel}>
            Cancel
          </button>
          <button type="button" className="danger" onClick={onConfirm}>
            {confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}
