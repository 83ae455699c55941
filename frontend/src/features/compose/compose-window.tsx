/**
 * One compose window: recipients (To, with Cc and Bcc behind links), subject, the rich-text
 * editor (loaded lazily), attachments by picker or by dropping files anywhere on the window (each
 * with a progress bar while it uploads), and the footer: Send (Ctrl/Cmd+Enter), Send later with a
 * time, Discard, and the draft's saved state. The draft is saved every few seconds while it
 * changes and when the window closes; a failed send or an expired session keeps everything typed
 * (the window stays open and says what went wrong).
 */
import { lazy, Suspense, useCallback, useEffect, useRef, useState, type ComponentType } from 'react';
import type { ContactDto, DraftBody, SendBody, SendResponse, UploadDto } from '@mailyard/core/contracts';
import { ApiError } from '../../api/client';
import { RecipientField } from './recipient-field';
import { toChip, type Chip } from './recipients';
import type { RichEditorProps } from './rich-editor';

const LazyRichEditor = lazy(() => import('./rich-editor'));

/** What the window needs from the API (api/client.ts; tests pass their own). */
export interface ComposeApi {
  saveDraft(body: DraftBody): Promise<{ id: number }>;
  replaceDraft(id: number, body: DraftBody): Promise<{ id: number }>;
  deleteDraft(id: number): Promise<void>;
  /** `idempotencyKey`: the same for a retry of the same message (see api.send). */
  send(body: SendBody, idempotencyKey?: string): Promise<SendResponse>;
  contacts(q: string): Promise<{ contacts: ContactDto[] }>;
  upload(file: File, onProgress: (fraction: number) => void): Promise<UploadDto>;
}

export interface ComposeInitial {
  to?: string[];
  cc?: string[];
  bcc?: string[];
  subject?: string;
  html?: string;
  text?: string;
  attachments?: string[];
  inReplyTo?: number;
  quoteOriginal?: boolean;
  forwardOf?: number;
  draftId?: number;
}

interface Attachment {
  key: string;
  filename: string;
  size: number | null;
  /** 0–1 while uploading; null once done. */
  progress: number | null;
  id: string | null;
  error: string | null;
}

export interface ComposeWindowProps {
  initial: ComposeInitial;
  api: ComposeApi;
  title?: string;
  onSent(result: SendResponse, message: Omit<SendBody, 'sendAt'>): void;
  onClose(): void;
  /** How often a changed draft is saved. */
  autosaveMs?: number;
  Editor?: ComponentType<RichEditorProps>;
}

type SaveState = 'idle' | 'saving' | 'saved' | 'failed';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function describe(err: unknown): string {
  return err instanceof ApiError ? err.message : 'Something went wrong. Try again.';
}

let nextKey = 0;

/** 128 random bits, hex (crypto.randomUUID needs a secure context; a self-hosted webmail may be served over plain HTTP). */
function randomKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function ComposeWindow({ initial, api, title, onSent, onClose, autosaveMs = 3000, Editor = LazyRichEditor }: ComposeWindowProps) {
  const [to, setTo] = useState<Chip[]>(() => (initial.to ?? []).map(toChip));
  const [cc, setCc] = useState<Chip[]>(() => (initial.cc ?? []).map(toChip));
  const [bcc, setBcc] = useState<Chip[]>(() => (initial.bcc ?? []).map(toChip));
  const [showCopies, setShowCopies] = useState((initial.cc?.length ?? 0) + (initial.bcc?.length ?? 0) > 0);
  const [subject, setSubject] = useState(initial.subject ?? '');
  const [body, setBody] = useState(() => ({ html: initial.html ?? (initial.text ? `<p>${escapeHtml(initial.text).replace(/\n/g, '<br>')}</p>` : ''), text: initial.text ?? '' }));
  const [attachments, setAttachments] = useState<Attachment[]>(() =>
    (initial.attachments ?? []).map((id) => ({ key: `a${nextKey++}`, filename: 'Attachment', size: null, progress: null, id, error: null })),
  );
  const [minimized, setMinimized] = useState(false);
  const [saveState, setSaveState] = useState<SaveState>('idle');
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [later, setLater] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const draftId = useRef<number | null>(initial.draftId ?? null);
  const dirty = useRef(false);
  const saving = useRef<Promise<void> | null>(null);
  /** The Idempotency-Key of the last send attempt, and the request it was for. */
  const sendKey = useRef<{ key: string; body: string } | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const initialHtml = useRef(body.html);

  const fields = (): DraftBody => ({
    to: to.map((c) => c.text),
    cc: cc.map((c) => c.text),
    bcc: bcc.map((c) => c.text),
    subject,
    text: body.text,
    ...(body.html ? { html: body.html } : {}),
    attachments: attachments.flatMap((a) => (a.id ? [a.id] : [])),
    ...(initial.inReplyTo !== undefined ? { inReplyTo: initial.inReplyTo, quoteOriginal: initial.quoteOriginal ?? true } : {}),
    ...(initial.forwardOf !== undefined ? { forwardOf: initial.forwardOf } : {}),
  });
  const fieldsRef = useRef(fields);
  fieldsRef.current = fields;

  // Anything typed marks the draft changed (the first render is what was loaded).
  const firstRender = useRef(true);
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    dirty.current = true;
  }, [to, cc, bcc, subject, body, attachments]);

  /** Saves the draft if it changed; a draft that only has invalid recipients is saved without them. */
  const save = useCallback(async (): Promise<void> => {
    if (saving.current) await saving.current;
    if (!dirty.current) return;
    dirty.current = false;
    const draft = fieldsRef.current();
    const valid = (list: string[] | undefined) => (list ?? []).filter((r) => toChip(r).valid);
    const payload = { ...draft, to: valid(draft.to), cc: valid(draft.cc), bcc: valid(draft.bcc) };
    setSaveState('saving');
    const run = (async () => {
      try {
        if (draftId.current === null) draftId.current = (await api.saveDraft(payload)).id;
        else {
          try {
            draftId.current = (await api.replaceDraft(draftId.current, payload)).id;
          } catch (err) {
            if (!(err instanceof ApiError && err.code === 'draft.not_found')) throw err;
            draftId.current = (await api.saveDraft(payload)).id;
          }
        }
        setSaveState('saved');
      } catch {
        dirty.current = true; // tried again at the next tick: nothing typed is lost
        setSaveState('failed');
      }
    })();
    saving.current = run;
    await run;
    saving.current = null;
  }, [api]);

  useEffect(() => {
    const timer = setInterval(() => void save(), autosaveMs);
    return () => clearInterval(timer);
  }, [save, autosaveMs]);

  const addFiles = (files: FileList | File[]) => {
    for (const file of Array.from(files)) {
      const key = `a${nextKey++}`;
      setAttachments((list) => [...list, { key, filename: file.name, size: file.size, progress: 0, id: null, error: null }]);
      const update = (change: Partial<Attachment>) => setAttachments((list) => list.map((a) => (a.key === key ? { ...a, ...change } : a)));
      api.upload(file, (progress) => update({ progress })).then(
        (done) => update({ id: done.id, progress: null }),
        (err: unknown) => update({ error: describe(err), progress: null }),
      );
    }
  };

  const problem = (): string | null => {
    const all = [...to, ...cc, ...bcc];
    if (all.length === 0) return 'Add at least one recipient.';
    const bad = all.find((c) => !c.valid);
    if (bad) return `“${bad.text}” is not a valid address.`;
    if (attachments.some((a) => a.progress !== null)) return 'Wait until the attachments have uploaded.';
    if (attachments.some((a) => a.error)) return 'Remove the attachments that failed to upload.';
    return null;
  };

  const send = async (sendAt?: string) => {
    const why = problem();
    if (why) {
      setError(why);
      return;
    }
    setError(null);
    setSending(true);
    try {
      // A save under way may replace the draft: send naming the latest one.
      if (saving.current) await saving.current;
      const message = { ...fieldsRef.current(), to: to.map((c) => c.text), ...(draftId.current !== null ? { draftId: draftId.current } : {}) } as Omit<SendBody, 'sendAt'>;
      const body: SendBody = sendAt ? { ...message, sendAt } : message;
      // Sending the same message again after a failure (no answer, a 5xx) reuses its key: the
      // server answers the copy it may already hold instead of sending a second one. The draft
      // id is not the message (an autosave meanwhile gives it a new one).
      const { draftId: _draft, ...fields } = body;
      const json = JSON.stringify(fields);
      if (sendKey.current?.body !== json) sendKey.current = { key: randomKey(), body: json };
      const result = await api.send(body, sendKey.current.key);
      dirty.current = false;
      onSent(result, message);
    } catch (err) {
      setError(describe(err));
      setSending(false);
    }
  };

  const close = async () => {
    await save();
    onClose();
  };

  const discard = async () => {
    dirty.current = false;
    if (saving.current) await saving.current;
    if (draftId.current !== null) await api.deleteDraft(draftId.current).catch(() => undefined);
    onClose();
  };

  const suggest = useCallback((q: string) => api.contacts(q).then((r) => r.contacts), [api]);
  const heading = subject.trim() || title || 'New message';

  if (minimized) {
    return (
      <section className="compose-window minimized" aria-label={heading}>
        <header className="compose-title">
          <button type="button" className="compose-title-button" onClick={() => setMinimized(false)} aria-label={`Restore ${heading}`}>
            {heading}
          </button>
          <button type="button" onClick={() => void close()} aria-label="Save and close">
            ✕
          </button>
        </header>
      </section>
    );
  }

  return (
    <section
      className={dragging ? 'compose-window dragging' : 'compose-window'}
      aria-label={heading}
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes('Files')) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        if (e.dataTransfer.files.length > 0) {
          e.preventDefault();
          setDragging(false);
          addFiles(e.dataTransfer.files);
        }
      }}
      onKeyDown={(e) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          void send();
        }
      }}
    >
      <header className="compose-title">
        <h2>{heading}</h2>
        <button type="button" onClick={() => setMinimized(true)} aria-label="Minimize">
          –
        </button>
        <button type="button" onClick={() => void close()} aria-label="Save and close">
          ✕
        </button>
      </header>
      <div className="compose-fields">
        <RecipientField label="To" chips={to} onChange={setTo} suggest={suggest} autoFocus={to.length === 0} />
        {showCopies ? (
          <>
            <RecipientField label="Cc" chips={cc} onChange={setCc} suggest={suggest} />
            <RecipientField label="Bcc" chips={bcc} onChange={setBcc} suggest={suggest} />
          </>
        ) : (
          <button type="button" className="link-button" onClick={() => setShowCopies(true)}>
            Cc / Bcc
          </button>
        )}
        <input className="compose-subject" aria-label="Subject" placeholder="Subject" value={subject} onChange={(e) => setSubject(e.target.value)} />
      </div>
      <Suspense fallback={<div className="editor-loading">Loading the editor…</div>}>
        <Editor initialHtml={initialHtml.current} label="Message" onChange={(html, text) => setBody({ html, text })} />
      </Suspense>
      {(initial.quoteOriginal || initial.inReplyTo !== undefined || initial.forwardOf !== undefined) && (
        <p className="muted compose-note">{initial.forwardOf !== undefined ? 'The forwarded message and its attachments go below your text.' : 'The original message is quoted below your text.'}</p>
      )}
      {attachments.length > 0 && (
        <ul className="compose-attachments" aria-label="Attachments">
          {attachments.map((a) => (
            <li key={a.key} className={a.error ? 'attachment-chip failed' : 'attachment-chip'}>
              <span>{a.filename}</span>
              {a.progress !== null && <progress max={1} value={a.progress} aria-label={`Uploading ${a.filename}`} />}
              {a.error && <span className="error-text">{a.error}</span>}
              <button type="button" aria-label={`Remove ${a.filename}`} onClick={() => setAttachments((list) => list.filter((x) => x.key !== a.key))}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p className="compose-error" role="alert">
          {error}
        </p>
      )}
      <footer className="compose-footer">
        <button type="button" className="primary" disabled={sending} onClick={() => void send()} title="Send (Ctrl+Enter)">
          {sending ? 'Sending…' : 'Send'}
        </button>
        {later === null ? (
          <button type="button" disabled={sending} onClick={() => setLater(defaultLater())}>
            Send later…
          </button>
        ) : (
          <span className="send-later">
            <input type="datetime-local" aria-label="Send at" value={later} onChange={(e) => setLater(e.target.value)} />
            <button type="button" disabled={sending || !later} onClick={() => void send(new Date(later).toISOString())}>
              Schedule
            </button>
            <button type="button" onClick={() => setLater(null)} aria-label="Cancel send later">
              ✕
            </button>
          </span>
        )}
        <button type="button" onClick={() => fileInput.current?.click()}>
          Attach
        </button>
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          aria-label="Attach files"
          onChange={(e) => {
            if (e.target.files) addFiles(e.target.files);
            e.target.value = '';
          }}
        />
        <span className="spacer" />
        <span className="muted save-state" role="status">
          {saveState === 'saving' ? 'Saving…' : saveState === 'saved' ? 'Saved' : saveState === 'failed' ? 'Not saved yet — retrying' : ''}
        </span>
        <button type="button" onClick={() => void discard()}>
          Discard
        </button>
      </footer>
    </section>
  );
}

/** Tomorrow 08:00 local time, as a datetime-local value. */
function defaultLater(): string {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  d.setHours(8, 0, 0, 0);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
