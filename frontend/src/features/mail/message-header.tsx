/**
 * The header block of the reader and of the thread reader: the toolbar (back to the list, archive,
 * delete, then whatever else the reader offers) and, under it, the subject with the lines about
 * the message or the conversation. Inside a conversation each message card has no back button
 * and no subject of its own (the thread's header has them).
 */
import type { ReactNode } from 'react';

export interface MessageHeaderProps {
  /** The subject, as the heading; absent on a card inside a conversation. */
  title?: string;
  onBack?(): void;
  onArchive?(): void;
  onTrash?(): void;
  /** More toolbar buttons, after archive and delete. */
  tools?: ReactNode;
  /** The lines under the subject. */
  children?: ReactNode;
  variant: 'message' | 'thread';
}

export function MessageHeader({ title, onBack, onArchive, onTrash, tools, children, variant }: MessageHeaderProps) {
  return (
    <>
      <div className="reader-toolbar">
        {onBack && (
          <button type="button" className="back" onClick={onBack} aria-label="Back to the list" title="Back to the list (u)">
            ←
          </button>
        )}
        {onArchive && (
          <button type="button" onClick={onArchive} title="Archive (e)">
            Archive
          </button>
        )}
        {onTrash && (
          <button type="button" onClick={onTrash} title="Delete (#)">
            Delete
          </button>
        )}
        {tools}
      </div>
      <header className={variant === 'thread' ? 'thread-header' : 'reader-header'}>
        {title !== undefined && <h2>{title || '(no subject)'}</h2>}
        {children}
      </header>
    </>
  );
}
