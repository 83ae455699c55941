import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { createWorkerPool, type WorkerPool, type WorkerPoolStats } from '../../util/worker-pool.js';
import { WeightedLru } from '../../util/weighted-lru.js';
import type { MessageAttachment, RenderedMessage } from '../render.js';

/**
 * The reader's renderer: parse + sanitize (render.ts) on a small pool of worker threads, so a
 * huge message never stalls the event loop, and each rendering kept in an LRU cache with a byte
 * budget, keyed by message id and the remote-images choice, so viewing a message again does not
 * parse it again (concurrent requests for the same rendering share one task).
 *
 * A cache rather than sanitized HTML stored at ingest: the rendering depends on the reader's
 * choice (remote images) and on this code, and a sanitizer fix must reach mail already stored;
 * stored HTML would also double the storage of HTML mail. A stored message never changes, so an
 * entry is never stale; the caller has loaded the message for its owner before asking, so the
 * cache never answers for a message the caller could not read.
 *
 * Inline images are data: URLs in the HTML (render.ts), or when too large point at URLs the caller
 * gives (`attachmentUrl`: signed links, fresh on each call). The worker cannot call back, so
 * it writes a marker (a random token per renderer, which a message cannot guess) and the URLs
 * are put in on the way out; cached renderings hold the markers.
 *
 * Attachment downloads (and forwarding) parse on the same workers (`attachments`), uncached: the
 * bytes are served once and a cache of them would hold a lot of memory for little.
 */

export interface RenderOptions {
  allowRemoteImages: boolean;
  attachmentUrl: (index: number) => string;
}

export interface MessageRenderer {
  render(messageId: number, raw: Buffer, options: RenderOptions): Promise<RenderedMessage>;
  /** Attachments `indexes` (renderMessage's numbering) from one parse; null where there is none. */
  attachments(raw: Buffer, indexes: readonly number[]): Promise<Array<MessageAttachment | null>>;
  stats(): WorkerPoolStats & { cachedEntries: number; cachedBytes: number };
  /** Has every worker render a small message once (nothing cached), so the first message a user opens does not wait for the renderer's code to load and compile. */
  warm(): Promise<void>;
  close(): Promise<void>;
}

/** What a render worker gets: a message to render, or attachments to take out of one. */
export type RenderTask =
  | {
      kind: 'render';
      raw: Uint8Array;
      allowRemoteImages: boolean;
      /** Inline image `index` is written as `<marker>-<index>-<marker>`. */
      marker: string;
    }
  | { kind: 'attachments'; raw: Uint8Array; indexes: number[] };

/** What comes back: a Buffer crosses the thread boundary as a plain Uint8Array. */
type RenderResult = RenderedMessage | Array<(Omit<MessageAttachment, 'content'> & { content: Uint8Array }) | null>;

export interface MessageRendererOptions {
  /** Worker threads (default: 2, or 1 on a single core). */
  workers?: number;
  /** Renderings waiting for a worker before more are refused with `worker_pool.busy` (default 32). */
  maxQueue?: number;
  /** The cache's budget in bytes of rendered text and HTML (default 64 MiB). */
  cacheBytes?: number;
}

const WORKER = new URL(`./render.worker.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url);

/** Approximate memory of a rendering: UTF-16 strings plus a little per attachment. */
function sizeOf(r: RenderedMessage): number {
  return 2 * (r.text.length + (r.html?.length ?? 0)) + 256 * (r.attachments.length + 1);
}

function escapeAttribute(value: string): string {
  return value.replace(/[&"<>]/g, (c) => ({ '&': '&amp;', '"': '&quot;', '<': '&lt;', '>': '&gt;' })[c]!);
}

export function createMessageRenderer(options: MessageRendererOptions = {}): MessageRenderer {
  const pool: WorkerPool<RenderTask, RenderResult> = createWorkerPool({
    module: WORKER,
    size: options.workers ?? Math.min(2, availableParallelism()),
    maxQueue: options.maxQueue ?? 32,
  });
  const budget = options.cacheBytes ?? 64 * 1024 * 1024;
  const marker = randomBytes(12).toString('hex');
  const markerPattern = new RegExp(`${marker}-(\\d+)-${marker}`, 'g');
  const cache = new WeightedLru<string, RenderedMessage>(budget, sizeOf);
  const inFlight = new Map<string, Promise<RenderedMessage>>();

  async function renderOnce(key: string, raw: Buffer, allowRemoteImages: boolean): Promise<RenderedMessage> {
    const hit = cache.get(key);
    if (hit) return hit;
    let pending = inFlight.get(key);
    if (!pending) {
      pending = pool.run({ kind: 'render', raw, allowRemoteImages, marker }).then((result) => {
        const rendered = result as RenderedMessage;
        cache.set(key, rendered);
        return rendered;
      });
      inFlight.set(key, pending);
      void pending.then(
        () => inFlight.delete(key),
        () => inFlight.delete(key),
      );
    }
    return pending;
  }

  return {
    async render(messageId, raw, { allowRemoteImages, attachmentUrl }) {
      const rendered = await renderOnce(`${messageId}:${allowRemoteImages ? 1 : 0}`, raw, allowRemoteImages);
      return rendered.html === null ? rendered : { ...rendered, html: rendered.html.replace(markerPattern, (_m, index: string) => escapeAttribute(attachmentUrl(Number(index)))) };
    },
    async attachments(raw, indexes) {
      const found = (await pool.run({ kind: 'attachments', raw, indexes: [...indexes] })) as Exclude<RenderResult, RenderedMessage>;
      return found.map((a) => a && { ...a, content: Buffer.from(a.content.buffer, a.content.byteOffset, a.content.byteLength) });
    },
    stats() {
      return { ...pool.stats(), cachedEntries: cache.size, cachedBytes: cache.weight };
    },
    async warm() {
      const sample = Buffer.from('From: <warm@mailyard.invalid>\r\nSubject: warm-up\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>warm-up <a href="https://example.invalid/">link</a></p>\r\n');
      // As many at once as there are workers: an idle worker takes each one.
      await Promise.all(Array.from({ length: pool.stats().workers }, () => pool.run({ kind: 'render', raw: sample, allowRemoteImages: false, marker })));
    },
    close() {
      cache.clear();
      return pool.close();
    },
  };
}

let shared: MessageRenderer | null = null;

/**
 * The process's renderer, made on first use: like libuv's thread pool, one per process, so
 * services built more than once in a process (`npm start`, tests) share its workers and cache.
 * Its workers are unref'd and need no closing.
 */
export function sharedMessageRenderer(): MessageRenderer {
  shared ??= createMessageRenderer();
  return shared;
}
