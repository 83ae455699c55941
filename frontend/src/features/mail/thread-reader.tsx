/**
 * The reader of a conversation: GET /api/threads/:id, oldest first under the thread's subject.
 * Earlier messages are collapsed to one line each ("Anna — snippet — date", a button that opens
 * them); the newest is open. An open message is a `Reader` card (body, attachments, headers,
 * source, star; for sent mail its delivery strip; for Junk, why). Archive and Delete act on the
 * conversation; the header block is the reader's (message-header.tsx).
 * `version` changes when the conversation's messages in the list change: it is fetched again.
 */
import { useCallback, useEffect, useState } from 'react';
import type { MessageDetailDto, MessageListItemDto, OutboundDto, ThreadResponse } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import type { DeliveryEvent } from './delivery-strip';
import { listDate, personName } from './format';
import { MessageHeader } from './message-header';
import { ListError } from './message-list';
import { Reader, type ReaderProps } from './reader';

export interface ThreadReaderProps {
  threadId: number;
  version: string;
  userId?: number;
  loadThread(threadId: number): Promise<ThreadResponse>;
  load(id: number, remoteImages: boolean): Promise<MessageDetailDto>;
  loadSource?(id: number): Promise<string>;
  /** Given when the thread's sent messages show their delivery: which messages are sent mail. */
  loadDelivery?(id: number): Promise<OutboundDto>;
  isSent?(message: MessageListItemDto): boolean;
  deliveryEvent?: DeliveryEvent | null;
  onBack(): void;
  onStar?(id: number, starred: boolean): void;
  onArchive?(): void;
  onTrash?(): void;
  /** Handed to each message card: Junk explanations, "Not spam", "Report spam", "Block sender". */
  spam?: Pick<ReaderProps, 'junkMailboxId' | 'onNotSpam' | 'onReportSpam' | 'blockSender'>;
}

type Loaded = { state: 'loading' } | { state: 'error'; message: string } | { state: 'ready'; messages: MessageListItemDto[] };

export function ThreadReader(props: ThreadReaderProps) {
  const { threadId, version, loadThread, onBack, onArchive, onTrash, onStar } = props;
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  /** Opened by the user, on top of the newest. */
  const [expanded, setExpanded] = useState<ReadonlySet<number>>(new Set());
  const [stars, setStars] = useState<ReadonlyMap<number, boolean>>(new Map());

  const fetchThread = useCallback(
    (signal: { cancelled: boolean }) => {
      loadThread(threadId).then(
        (thread) => {
          if (signal.cancelled) return;
          const messages = [...thread.messages].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.id - b.id));
          setStars(new Map(messages.map((m) => [m.id, m.starred])));
          setLoaded({ state: 'ready', messages });
        },
        (err: unknown) => !signal.cancelled && setLoaded({ state: 'error', message: err instanceof ApiError ? err.message : 'This conversation could not be loaded.' }),
      );
    },
    [loadThread, threadId],
  );

  useEffect(() => {
    const signal = { cancelled: false };
    fetchThread(signal);
    return () => {
      signal.cancelled = true;
    };
  }, [fetchThread, version]);

  if (loaded.state === 'loading') {
    return (
      <article className="reader" aria-busy="true" aria-label="Loading conversation">
        <div className="skeleton title" />
        <div className="skeleton line" />
        <div className="skeleton block" />
      </article>
    );
  }
  if (loaded.state === 'error') {
    return (
      <article className="reader">
        <ListError message={loaded.message} onRetry={() => fetchThread({ cancelled: false })} />
      </article>
    );
  }

  const { messages } = loaded;
  const newest = messages[messages.length - 1];
  const subject = newest?.subject ?? '';
  return (
    <section className="thread" aria-label={`Conversation: ${subject || '(no subject)'}`}>
      <MessageHeader variant="thread" title={subject} onBack={onBack} onArchive={onArchive} onTrash={onTrash}>
        <p className="muted">{messages.length === 1 ? '1 message' : `${messages.length} messages`}</p>
      </MessageHeader>
      <ol className="thread-messages">
        {messages.map((m) =>
          m === newest || expanded.has(m.id) ? (
            <li key={m.id}>
              <Reader
                inThread
                {...props.spam}
                messageId={m.id}
                userId={props.userId}
                load={props.load}
                loadSource={props.loadSource}
                loadDelivery={props.loadDelivery && props.isSent?.(m) ? props.loadDelivery : undefined}
                deliveryEvent={props.deliveryEvent}
                starred={stars.get(m.id) ?? false}
                onBack={onBack}
                onStar={
                  onStar &&
                  ((id, starred) => {
                    setStars((s) => new Map(s).set(id, starred));
                    onStar(id, starred);
                  })
                }
              />
            </li>
          ) : (
            <li key={m.id}>
              <button type="button" className={m.unread ? 'thread-collapsed unread' : 'thread-collapsed'} aria-expanded={false} onClick={() => setExpanded((s) => new Set(s).add(m.id))}>
                <span className="sender">{personName(m.from)}</span>
                <span className="snippet">{m.snippet}</span>
                <time className="date" dateTime={m.date}>
                  {listDate(m.date)}
                </time>
              </button>
            </li>
          ),
        )}
      </ol>
    </section>
  );
}
