/**
 * The message list of a folder: virtualized rows (TanStack Virtual), more pages fetched as the
 * end comes into view (the cursor API), skeleton rows while loading, and an error with Retry.
 * A row shows sender, subject, snippet, date, attachment and star markers; unread is bold.
 * Each row has a checkbox (shift-click selects a range; so does shift-click on the row, and
 * Ctrl/Cmd-click toggles), a right-click menu, and can be dragged onto a folder (with the rest
 * of the selection when it is selected). Grouped by conversation, a row is a conversation: its
 * senders and the number of its messages (`conversations`, by row id).
 */
import { useEffect, useRef, type CSSProperties, type DragEvent, type MouseEvent } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { MessageListItemDto } from '@mailyard/core/contracts';
import { DRAG_TYPE } from './folder-list';
import { listDate, personName } from './format';

export const ROW_HEIGHT = 64;
/** Start fetching the next page this many rows before the end. */
const PREFETCH_ROWS = 15;

export interface MessageListProps {
  items: MessageListItemDto[];
  folderName: string;
  loading: boolean;
  loadingMore: boolean;
  hasMore: boolean;
  error: string | null;
  /** The row the keyboard is on. */
  cursor: number;
  openId: number | null;
  onOpen(message: MessageListItemDto, index: number): void;
  onLoadMore(): void;
  onRetry(): void;
  selected?: ReadonlySet<number>;
  /** A checkbox or a modified click: toggle one message, or select the range up to it. */
  onSelect?(message: MessageListItemDto, mode: 'toggle' | 'range'): void;
  onContextMenu?(message: MessageListItemDto, x: number, y: number): void;
  /** The rows that are conversations, by row id. */
  conversations?: ReadonlyMap<number, RowConversation>;
}

/** What a conversation row shows beyond its newest message. */
export interface RowConversation {
  count: number;
  senders: string[];
}

const noneSelected: ReadonlySet<number> = new Set();

export function MessageList(props: MessageListProps) {
  const { items, loading, loadingMore, hasMore, error, cursor, openId, onOpen, onLoadMore, onSelect, onContextMenu, conversations } = props;
  const selected = props.selected ?? noneSelected;
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: items.length + (hasMore ? 1 : 0),
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
  });
  const virtualRows = virtualizer.getVirtualItems();
  const lastIndex = virtualRows.length > 0 ? virtualRows[virtualRows.length - 1]!.index : -1;

  useEffect(() => {
    if (hasMore && !loadingMore && !error && lastIndex >= items.length - PREFETCH_ROWS) onLoadMore();
  }, [hasMore, loadingMore, error, lastIndex, items.length, onLoadMore]);

  // The keyboard row is kept in view when it moves (or first comes into the loaded rows), never
  // when a page arrives: that would pull the user back while they scroll with the mouse.
  const scrolledTo = useRef(-1);
  useEffect(() => {
    if (loading) scrolledTo.current = -1;
    else if (cursor !== scrolledTo.current && cursor >= 0 && cursor < items.length) {
      scrolledTo.current = cursor;
      virtualizer.scrollToIndex(cursor, { align: 'auto' });
    }
  }, [loading, cursor, items.length, virtualizer]);

  if (loading) {
    return (
      <div className="list-scroller" aria-busy="true" aria-label="Loading messages">
        {Array.from({ length: 8 }, (_, i) => (
          <div key={i} className="row skeleton" style={{ height: ROW_HEIGHT }} />
        ))}
      </div>
    );
  }
  if (items.length === 0 && error) return <ListError message={error} onRetry={props.onRetry} />;
  if (items.length === 0) return <p className="empty">No messages in {props.folderName}.</p>;

  return (
    <div className="list-scroller" ref={scroller}>
      <div role="listbox" aria-label={`Messages in ${props.folderName}`} aria-multiselectable={props.onSelect ? true : undefined} style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
        {virtualRows.map((row) => {
          const message = items[row.index];
          const style = { height: row.size, transform: `translateY(${row.start}px)` };
          if (!message) {
            return (
              <div key="more" className="row more" style={style}>
                {error ? <ListError message={error} onRetry={props.onRetry} /> : 'Loading more…'}
              </div>
            );
          }
          const isSelected = selected.has(message.id);
          return (
            <MessageRow
              key={message.id}
              message={message}
              conversation={conversations?.get(message.id)}
              style={style}
              focused={row.index === cursor}
              open={message.id === openId}
              selected={isSelected}
              onClick={(e) => {
                if (onSelect && e.shiftKey) onSelect(message, 'range');
                else if (onSelect && (e.ctrlKey || e.metaKey)) onSelect(message, 'toggle');
                else onOpen(message, row.index);
              }}
              onSelect={onSelect && ((mode) => onSelect(message, mode))}
              onContextMenu={
                onContextMenu &&
                ((e) => {
                  e.preventDefault();
                  onContextMenu(message, e.clientX, e.clientY);
                })
              }
              onDragStart={(e) => {
                e.dataTransfer.setData(DRAG_TYPE, JSON.stringify(isSelected ? [...selected] : [message.id]));
                e.dataTransfer.effectAllowed = 'move';
              }}
            />
          );
        })}
      </div>
    </div>
  );
}

interface RowProps {
  message: MessageListItemDto;
  conversation?: RowConversation;
  style: CSSProperties;
  focused: boolean;
  open: boolean;
  selected: boolean;
  onClick(e: MouseEvent): void;
  onSelect?(mode: 'toggle' | 'range'): void;
  onContextMenu?(e: MouseEvent): void;
  onDragStart(e: DragEvent): void;
}

function MessageRow({ message, conversation, style, focused, open, selected, onClick, onSelect, onContextMenu, onDragStart }: RowProps) {
  const classes = ['row', message.unread ? 'unread' : '', focused ? 'focused' : '', open ? 'open' : '', selected ? 'selected' : ''].filter(Boolean).join(' ');
  return (
    <div
      role="option"
      // Selected for the bulk actions where rows can be picked (`x`, or the box); else the open row.
      aria-selected={onSelect ? selected : open}
      aria-current={open ? 'true' : undefined}
      data-message-id={message.id}
      className={classes}
      style={style}
      onClick={onClick}
      onContextMenu={onContextMenu}
      draggable
      onDragStart={onDragStart}
    >
      {onSelect && (
        // The pointer's way to pick a row (shift: a range). Not a control of its own: an option may hold
        // none (its selection is the option's aria-selected); the keyboard picks with `x`.
        <span
          className="row-check"
          data-checked={selected}
          aria-hidden="true"
          title={`Select: ${message.subject || '(no subject)'}`}
          onClick={(e) => {
            e.stopPropagation();
            onSelect(e.shiftKey ? 'range' : 'toggle');
          }}
        />
      )}
      <div className="row-line">
        <span className="sender">{conversation ? conversation.senders.join(', ') : personName(message.from)}</span>
        {conversation && conversation.count > 1 && (
          <span className="count" aria-label={`${conversation.count} messages`}>
            {conversation.count}
          </span>
        )}
        {message.hasAttachments && (
          <span className="marker" title="Has attachments" aria-label="Has attachments">
            <svg width="12" height="12" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" aria-hidden="true">
              <path d="M21 11.5l-8.5 8.5a5 5 0 0 1-7-7L14 4.5a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 7.5" />
            </svg>
          </span>
        )}
        {message.starred && (
          <span className="marker star" title="Starred" aria-label="Starred">
            ★
          </span>
        )}
        <time className="date" dateTime={message.date}>
          {listDate(message.date)}
        </time>
      </div>
      <div className="row-line">
        <span className="subject">{message.subject || '(no subject)'}</span>
        {message.snippet && <span className="snippet"> — {message.snippet}</span>}
      </div>
    </div>
  );
}

export function ListError({ message, onRetry }: { message: string; onRetry(): void }) {
  return (
    <div className="error-block" role="alert">
      <p>{message}</p>
      <button type="button" onClick={onRetry}>
        Retry
      </button>
    </div>
  );
}
