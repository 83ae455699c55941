import http from 'node:http';

/** One parsed Server-Sent Events frame: an event (id/event/data), a `retry:`, or a `: comment`. */
export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
  comment?: string;
}

export interface SseStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Every frame so far, in arrival order. */
  frames: SseFrame[];
  /** Frames that carry an event (`event:`/`data:`). */
  events(): SseFrame[];
  /** Event frames that carry an id: the change-log events and `resync` (not hints like mailbox.counts). */
  changes(): SseFrame[];
  /** The first frame (from the start) that matches, waiting up to `timeoutMs` for it. */
  waitFor(match: (f: SseFrame) => boolean, timeoutMs?: number, what?: string): Promise<SseFrame>;
  /** Resolves when the server ends the stream (or the connection closes). */
  ended: Promise<void>;
  isEnded(): boolean;
  /** The client goes away. */
  close(): void;
  /** The body, for a non-stream answer (e.g. a 401), once it ended. */
  body(): Promise<string>;
}

/**
 * A minimal EventSource for tests: GET `url` with `headers` over a real socket and parse the
 * stream incrementally as the spec says (lines, blank line dispatches, `:` comments).
 */
export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const frames: SseFrame[] = [];
      const waiters = new Set<() => void>();
      let raw = '';
      let buffer = '';
      let current: SseFrame = {};
      let ended = false;
      let endedResolve!: () => void;
      const endedPromise = new Promise<void>((r) => (endedResolve = r));
      const notify = () => {
        for (const w of [...waiters]) w();
      };
      const line = (text: string) => {
        if (text === '') {
          if (current.id !== undefined || current.event !== undefined || current.data !== undefined) frames.push(current);
          current = {};
          return;
        }
        if (text.startsWith(':')) {
          frames.push({ comment: text.slice(1).trimStart() });
          return;
        }
        const colon = text.indexOf(':');
        const field = colon === -1 ? text : text.slice(0, colon);
        let value = colon === -1 ? '' : text.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'id') current.id = value;
        else if (field === 'event') current.event = value;
        else if (field === 'data') current.data = current.data === undefined ? value : `${current.data}\n${value}`;
        else if (field === 'retry') frames.push({ retry: Number(value) });
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        raw += chunk;
        buffer += chunk;
        const parts = buffer.split(/\r\n|\r|\n/);
        buffer = parts.pop() ?? '';
        for (const p of parts) line(p);
        notify();
      });
      const finish = () => {
        if (ended) return;
        ended = true;
        endedResolve();
        notify();
      };
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);

      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        frames,
        events: () => frames.filter((f) => f.event !== undefined || f.data !== undefined),
        changes: () => frames.filter((f) => f.id !== undefined && (f.event !== undefined || f.data !== undefined)),
        ended: endedPromise,
        isEnded: () => ended,
        close: () => req.destroy(),
        body: async () => {
          await endedPromise;
          return raw;
        },
        waitFor(match, timeoutMs = 10_000, what = 'a matching frame') {
          return new Promise<SseFrame>((resolveFrame, rejectFrame) => {
            const check = () => {
              const found = frames.find(match);
              if (found) {
                done();
                resolveFrame(found);
              } else if (ended) {
                done();
                rejectFrame(new Error(`stream ended without ${what}; frames: ${JSON.stringify(frames)}`));
              }
            };
            const timer = setTimeout(() => {
              done();
              rejectFrame(new Error(`no ${what} within ${timeoutMs} ms; frames: ${JSON.stringify(frames)}`));
            }, timeoutMs);
            const done = () => {
              clearTimeout(timer);
              waiters.delete(check);
            };
            waiters.add(check);
            check();
          });
        },
      });
    });
    req.on('error', reject);
  });
}

/** The parsed `data:` of an event frame. */
export function eventData<T = Record<string, unknown>>(frame: SseFrame): T {
  return JSON.parse(frame.data ?? 'null') as T;
}
