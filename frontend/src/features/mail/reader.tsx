/**
 * The reader: one message, loaded from GET /api/messages/:id. HTML mail renders in a sandboxed
 * iframe (mail-frame.ts) with remote images blocked until "Show images" refetches with
 * remoteImages=1 (at once for senders the user always allows: image-senders.ts); plain-text
 * mail as text. Star, archive and move to Trash from its toolbar; the headers or the whole
 * source on demand; attachments with a type icon, size, an inline preview of images, and
 * download; for sent mail, each recipient's delivery status (delivery-strip.tsx). Mail in Junk
 * says why, with "Not spam" (filter-panel.tsx); other mail offers "Report spam" (a move to Junk)
 * and "Block sender", and what the sender checks found on demand. Inside a conversation
 * (thread-reader.tsx) it is one card: no back button, and the subject is the thread's.
 */
import { useCallback, useEffect, useState } from 'react';
import type { MessageAttachmentDto, MessageDetailDto, OutboundDto } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { clearReplyTarget, openCompose, setReplyTarget } from '../compose/compose-store';
import { DeliveryStrip, type DeliveryEvent } from './delivery-strip';
import { AuthenticationLine, JunkBanner } from './filter-panel';
import { byteSize, fullDate, people } from './format';
import { trustImagesFrom, trustsImagesFrom } from './image-senders';
import { mailDocument } from './mail-frame';
import { MessageHeader } from './message-header';
import { ListError } from './message-list';

export interface ReaderProps {
  messageId: number;
  /** Whose "always show images" list applies. */
  userId?: number;
  load(id: number, remoteImages: boolean): Promise<MessageDetailDto>;
  /** The message as stored (GET /api/messages/:id/raw), for headers and view source. */
  loadSource?(id: number): Promise<string>;
  /** Given for sent mail: where each recipient stands. */
  loadDelivery?(id: number): Promise<OutboundDto>;
  deliveryEvent?: DeliveryEvent | null;
  /** The star as the list knows it (live events change it). */
  starred: boolean;
  onBack(): void;
  onStar?(id: number, starred: boolean): void;
  onArchive?(id: number): void;
  onTrash?(id: number): void;
  /** A card of a conversation: the thread reader has the back button and the subject. */
  inThread?: boolean;
  /** The user's Junk folder: mail in it explains why and offers "Not spam"; elsewhere "Report spam". */
  junkMailboxId?: number;
  onNotSpam?(id: number, allowSender: boolean): void;
  onReportSpam?(id: number): void;
  /** Adds the sender to the block list (POST /api/filters/senders); resolves to what takes it off again. */
  blockSender?(address: string): Promise<() => Promise<unknown>>;
}

type Loaded = { state: 'loading' } | { state: 'error'; message: string } | { state: 'ready'; message: MessageDetailDto; remoteImages: boolean };

type Blocking =
  | { state: 'idle' }
  | { state: 'busy' }
  | { state: 'done'; text: string; undo?: () => Promise<unknown> } // undo absent: the block was undone
  | { state: 'error'; text: string };

type Source = { state: 'hidden' } | { state: 'loading'; part: 'headers' | 'source' } | { state: 'shown'; part: 'headers' | 'source'; text: string } | { state: 'error'; message: string };

/** Who the images question is about. */
function senderOf(message: MessageDetailDto): string | null {
  return message.from[0]?.address ?? null;
}

export function Reader(props: ReaderProps) {
  const { messageId, userId, load, loadSource, loadDelivery, deliveryEvent = null, starred, onBack, onStar, onArchive, onTrash, inThread = false } = props;
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  const [source, setSource] = useState<Source>({ state: 'hidden' });
  const [blocking, setBlocking] = useState<Blocking>({ state: 'idle' });
  // r / a / f answer the message open here (compose-store.ts); in a thread, the last one shown.
  useEffect(() => {
    setReplyTarget(messageId);
    return () => clearReplyTarget(messageId);
  }, [messageId]);

  const fetchMessage = useCallback(
    (remoteImages: boolean, signal: { cancelled: boolean }) => {
      load(messageId, remoteImages).then(
        (message) => {
          if (signal.cancelled) return;
          const sender = senderOf(message);
          const trusted = !remoteImages && message.hasRemoteContent && userId !== undefined && sender !== null && trustsImagesFrom(userId, sender);
          if (trusted) fetchMessage(true, signal);
          else setLoaded({ state: 'ready', message, remoteImages });
        },
        (err: unknown) => !signal.cancelled && setLoaded({ state: 'error', message: err instanceof ApiError ? err.message : 'This message could not be loaded.' }),
      );
    },
    [load, messageId, userId],
  );

  const showSource = (part: 'headers' | 'source') => {
    if (!loadSource) return;
    if (source.state === 'shown' && source.part === part) return setSource({ state: 'hidden' });
    setSource({ state: 'loading', part });
    loadSource(messageId).then(
      (text) => setSource({ state: 'shown', part, text: part === 'headers' ? text.split(/\r?\n\r?\n/, 1)[0]! : text }),
      (err: unknown) => setSource({ state: 'error', message: err instanceof ApiError ? err.message : 'The source could not be loaded.' }),
    );
  };

  useEffect(() => {
    const signal = { cancelled: false };
    setLoaded({ state: 'loading' });
    fetchMessage(false, signal);
    return () => {
      signal.cancelled = true;
    };
  }, [fetchMessage]);

  if (loaded.state === 'loading') {
    return (
      <article className="reader" aria-busy="true" aria-label="Loading message">
        <div className="skeleton title" />
        <div className="skeleton line" />
        <div className="skeleton block" />
      </article>
    );
  }
  if (loaded.state === 'error') {
    return (
      <article className="reader">
        <ListError message={loaded.message} onRetry={() => fetchMessage(false, { cancelled: false })} />
      </article>
    );
  }

  const { message, remoteImages } = loaded;
  const sender = senderOf(message);
  const inJunk = props.junkMailboxId !== undefined ? message.mailboxId === props.junkMailboxId : message.filter?.verdict === 'junk';
  const block = (address: string) => {
    setBlocking({ state: 'busy' });
    props.blockSender!(address).then(
      (undo) => setBlocking({ state: 'done', text: `Blocked ${address}: new mail from this sender goes to Junk. Settings lists the senders you blocked.`, undo }),
      (err: unknown) => setBlocking({ state: 'error', text: err instanceof ApiError ? err.message : 'The sender could not be blocked. Try again.' }),
    );
  };
  const unblock = (address: string, undo: () => Promise<unknown>) => {
    setBlocking({ state: 'busy' });
    undo().then(
      () => setBlocking({ state: 'done', text: `${address} is no longer blocked.` }),
      (err: unknown) => setBlocking({ state: 'error', text: err instanceof ApiError ? err.message : 'The sender could not be taken off the block list. Try again in Settings.' }),
    );
  };
  const tools = (
    <>
      {onStar && (
        <button type="button" onClick={() => onStar(message.id, !starred)} aria-pressed={starred} title={starred ? 'Remove the star' : 'Star'}>
          {starred ? '★ Starred' : '☆ Star'}
        </button>
      )}
      <button type="button" onClick={() => openCompose({ kind: 'reply', messageId: message.id })} title="Reply (r)">
        Reply
      </button>
      <button type="button" onClick={() => openCompose({ kind: 'replyAll', messageId: message.id })} title="Reply all (a)">
        Reply all
      </button>
      <button type="button" onClick={() => openCompose({ kind: 'forward', messageId: message.id })} title="Forward (f)">
        Forward
      </button>
      {!inJunk && props.onReportSpam && (
        <button type="button" onClick={() => props.onReportSpam!(message.id)} title="Move to Junk">
          Report spam
        </button>
      )}
      {!inJunk && props.blockSender && sender && (
        <button type="button" disabled={blocking.state === 'busy' || (blocking.state === 'done' && blocking.undo !== undefined)} onClick={() => block(sender)}>
          Block sender
        </button>
      )}
      {loadSource && (
        <>
          <button type="button" aria-pressed={source.state === 'shown' && source.part === 'headers'} onClick={() => showSource('headers')}>
            Headers
          </button>
          <button type="button" aria-pressed={source.state === 'shown' && source.part === 'source'} onClick={() => showSource('source')}>
            View source
          </button>
        </>
      )}
    </>
  );
  return (
    <article className={inThread ? 'reader thread-card' : 'reader'} aria-label={inThread ? `Message from ${people(message.from) || 'unknown sender'}` : message.subject || '(no subject)'}>
      <MessageHeader
        variant="message"
        title={inThread ? undefined : message.subject}
        onBack={inThread ? undefined : onBack}
        onArchive={onArchive && (() => onArchive(message.id))}
        onTrash={onTrash && (() => onTrash(message.id))}
        tools={tools}
      >
        <p className="from">{people(message.from) || '(no sender)'}</p>
        <p className="muted">
          to {people(message.to) || '(no recipients)'}
          {message.cc.length > 0 && <> · cc {people(message.cc)}</>} · <time dateTime={message.date}>{fullDate(message.date)}</time>
        </p>
        {message.authentication && <AuthenticationLine auth={message.authentication} />}
      </MessageHeader>
      {(blocking.state === 'done' || blocking.state === 'error') && (
        <p className={blocking.state === 'done' ? 'images-bar' : 'error'} role={blocking.state === 'done' ? 'status' : 'alert'}>
          {blocking.text}
          {blocking.state === 'done' && blocking.undo && sender && (
            <button type="button" onClick={() => unblock(sender, blocking.undo!)}>
              Undo
            </button>
          )}
        </p>
      )}
      {inJunk && <JunkBanner message={message} onNotSpam={props.onNotSpam && ((allow) => props.onNotSpam!(message.id, allow))} />}
      {loadDelivery && <DeliveryStrip messageId={message.id} load={loadDelivery} event={deliveryEvent} />}
      {source.state === 'loading' && <p className="muted">Loading…</p>}
      {source.state === 'error' && <p className="error">{source.message}</p>}
      {source.state === 'shown' && (
        <pre className="source" aria-label={source.part === 'headers' ? 'Message headers' : 'Message source'} tabIndex={0}>
          {source.text}
        </pre>
      )}
      {message.hasRemoteContent && !remoteImages && (
        <div className="images-bar" role="status">
          <span>Images from remote senders are hidden.</span>
          <button type="button" onClick={() => fetchMessage(true, { cancelled: false })}>
            Show images
          </button>
          {userId !== undefined && sender && (
            <button
              type="button"
              onClick={() => {
                trustImagesFrom(userId, sender);
                fetchMessage(true, { cancelled: false });
              }}
            >
              Always show from {sender}
            </button>
          )}
        </div>
      )}
      {message.truncated && (
        <p className="images-bar" role="status">
          <span>This message is too large to show in full.</span>
          <a href={`/api/messages/${message.id}/raw`} download>
            Download it to see everything
          </a>
        </p>
      )}
      {message.html !== null ? (
        <iframe
          className="mail-frame"
          title="Message body"
          sandbox="allow-popups allow-popups-to-escape-sandbox"
          referrerPolicy="no-referrer"
          srcDoc={mailDocument(message.html, { remoteImages, origin: window.location.origin })}
        />
      ) : (
        <pre className="text-body">{message.text}</pre>
      )}
      {message.attachments.filter((a) => !a.inline).length > 0 && (
        <ul className="attachments" aria-label="Attachments">
          {message.attachments
            .filter((a) => !a.inline)
            .map((a) => (
              <Attachment key={a.index} attachment={a} />
            ))}
        </ul>
      )}
    </article>
  );
}

function typeIcon(contentType: string): string {
  if (contentType.startsWith('image/')) return '🖼';
  if (contentType === 'application/pdf') return '📕';
  if (contentType.startsWith('text/')) return '📄';
  if (/zip|compressed|tar/.test(contentType)) return '🗜';
  return '📎';
}

/** A chip: type icon, name, size, download, and for images a preview shown in place. */
function Attachment({ attachment: a }: { attachment: MessageAttachmentDto }) {
  const [preview, setPreview] = useState(false);
  const name = a.filename ?? `attachment ${a.index + 1}`;
  const isImage = a.contentType.startsWith('image/');
  return (
    <li>
      <span className="type-icon" role="img" aria-label={a.contentType}>
        {typeIcon(a.contentType)}
      </span>{' '}
      <a href={a.url} download={a.filename ?? true}>
        {name}
      </a>{' '}
      <span className="muted">{byteSize(a.size)}</span>
      {isImage && (
        <button type="button" className="link" aria-expanded={preview} onClick={() => setPreview((p) => !p)}>
          {preview ? 'Hide preview' : 'Preview'}
        </button>
      )}
      {preview && <img className="attachment-preview" src={a.url} alt={`Preview of ${name}`} />}
    </li>
  );
}
