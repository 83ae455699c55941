/**
 * The folders with their unread counts, and the user's own folders below them: create, rename
 * and delete them here, and drop messages dragged from the list onto any folder to move them
 * there (the list puts their ids on the drag as DRAG_TYPE).
 */
import { useState, type DragEvent, type FormEvent } from 'react';
import type { MailboxDto } from '@mailyard/core/contracts';

/** The drag data type that carries message ids (JSON array). */
export const DRAG_TYPE = 'application/x-mailyard-messages';

export function folderName(mailbox: MailboxDto): string {
  return mailbox.specialUse === '\\Inbox' ? 'Inbox' : mailbox.name;
}

export interface FolderListProps {
  mailboxes: MailboxDto[];
  selectedId: number | null;
  onSelect(id: number): void;
  /** Messages dropped on a folder. */
  onDropMessages?(ids: number[], mailboxId: number): void;
  /** Each resolves when done; a rejection leaves the form open (the caller shows why). */
  onCreate?(name: string): Promise<void>;
  onRename?(id: number, name: string): Promise<void>;
  onDelete?(folder: MailboxDto): void;
  /** The "Scheduled" entry below the system folders (messages held for a later send). */
  scheduled?: { selected: boolean; onSelect(): void };
}

type Editing = { kind: 'create' } | { kind: 'rename'; id: number } | null;

export function FolderList({ mailboxes, selectedId, onSelect, onDropMessages, onCreate, onRename, onDelete, scheduled }: FolderListProps) {
  const [editing, setEditing] = useState<Editing>(null);
  const [dropTarget, setDropTarget] = useState<number | null>(null);
  const system = mailboxes.filter((m) => m.specialUse !== null);
  const own = mailboxes.filter((m) => m.specialUse === null);

  const dropHandlers = (m: MailboxDto) =>
    onDropMessages && m.id !== selectedId
      ? {
          onDragOver: (e: DragEvent) => {
            if (!e.dataTransfer.types.includes(DRAG_TYPE)) return;
            e.preventDefault();
            e.dataTransfer.dropEffect = 'move';
            setDropTarget(m.id);
          },
          onDragLeave: () => setDropTarget((t) => (t === m.id ? null : t)),
          onDrop: (e: DragEvent) => {
            e.preventDefault();
            setDropTarget(null);
            const ids = parseDragIds(e.dataTransfer.getData(DRAG_TYPE));
            if (ids.length > 0) onDropMessages(ids, m.id);
          },
        }
      : {};

  const folder = (m: MailboxDto) => {
    const classes = ['folder', m.id === selectedId ? 'selected' : '', m.id === dropTarget ? 'drop-target' : ''].filter(Boolean).join(' ');
    return (
      <button type="button" className={classes} aria-current={m.id === selectedId ? 'page' : undefined} onClick={() => onSelect(m.id)} {...dropHandlers(m)}>
        <span className="name">{folderName(m)}</span>
        {m.unread > 0 && (
          <span className="count" aria-label={`${m.unread} unread`}>
            {m.unread}
          </span>
        )}
      </button>
    );
  };

  return (
    <nav className="folders" aria-label="Folders">
      <ul>
        {system.map((m) => (
          <li key={m.id}>{folder(m)}</li>
        ))}
        {scheduled && (
          <li>
            <button type="button" className={scheduled.selected ? 'folder selected' : 'folder'} aria-current={scheduled.selected ? 'page' : undefined} onClick={scheduled.onSelect}>
              <span className="name">Scheduled</span>
            </button>
          </li>
        )}
      </ul>
      {(own.length > 0 || onCreate) && (
        <>
          <h2 className="folders-heading">Folders</h2>
          <ul>
            {own.map((m) =>
              editing?.kind === 'rename' && editing.id === m.id && onRename ? (
                <li key={m.id}>
                  <FolderNameForm label={`New name for ${m.name}`} initial={m.name} submitLabel="Rename" onSubmit={(name) => onRename(m.id, name)} onDone={() => setEditing(null)} />
                </li>
              ) : (
                <li key={m.id} className="own-folder">
                  {folder(m)}
                  {onRename && (
                    <button type="button" className="folder-tool" aria-label={`Rename ${m.name}`} title="Rename" onClick={() => setEditing({ kind: 'rename', id: m.id })}>
                      ✎
                    </button>
                  )}
                  {onDelete && (
                    <button type="button" className="folder-tool" aria-label={`Delete ${m.name}`} title="Delete folder" onClick={() => onDelete(m)}>
                      🗑
                    </button>
                  )}
                </li>
              ),
            )}
          </ul>
          {onCreate &&
            (editing?.kind === 'create' ? (
              <FolderNameForm label="Folder name" initial="" submitLabel="Create" onSubmit={onCreate} onDone={() => setEditing(null)} />
            ) : (
              <button type="button" className="new-folder" onClick={() => setEditing({ kind: 'create' })}>
                + New folder
              </button>
            ))}
        </>
      )}
    </nav>
  );
}

function parseDragIds(data: string): number[] {
  try {
    const ids: unknown = JSON.parse(data);
    return Array.isArray(ids) ? ids.filter((id): id is number => Number.isInteger(id) && id > 0) : [];
  } catch {
    return [];
  }
}

interface FolderNameFormProps {
  label: string;
  initial: string;
  submitLabel: string;
  onSubmit(name: string): Promise<void>;
  onDone(): void;
}

/** A name typed in place; Escape or Cancel leaves it, a failure keeps what was typed. */
function FolderNameForm({ label, initial, submitLabel, onSubmit, onDone }: FolderNameFormProps) {
  const [name, setName] = useState(initial);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const trimmed = name.trim();
    if (!trimmed || busy) return;
    setBusy(true);
    try {
      await onSubmit(trimmed);
      onDone();
    } catch {
      setBusy(false);
    }
  };
  return (
    <form className="folder-form" onSubmit={(e) => void submit(e)} onKeyDown={(e) => e.key === 'Escape' && onDone()}>
      <label>
        <span className="visually-hidden">{label}</span>
        <input autoFocus value={name} onChange={(e) => setName(e.target.value)} placeholder={label} maxLength={200} />
      </label>
      <button type="submit" disabled={busy || !name.trim()}>
        {submitLabel}
      </button>
      <button type="button" onClick={onDone}>
        Cancel
      </button>
    </form>
  );
}
