/**
 * For component tests that render the whole mail screen (MailApp) in happy-dom: a size for the
 * list's scroller (happy-dom does no layout, and the virtualizer needs a window to fill), the DOM and
 * localStorage cleared after each test, and the browser's `EventSource` replaced by the test's own
 * for the file, `fetch` (which each test sets to its fake API) put back after.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { cleanup } from '@testing-library/react';

export function mailScreenTestEnvironment(eventSource: unknown): void {
  const realFetch = globalThis.fetch;
  const realEventSource = globalThis.EventSource;
  beforeAll(() => {
    Object.defineProperty(HTMLElement.prototype, 'clientHeight', { configurable: true, get: () => 640 });
    Object.defineProperty(HTMLElement.prototype, 'clientWidth', { configurable: true, get: () => 400 });
    globalThis.EventSource = eventSource as typeof EventSource;
  });
  afterEach(() => {
    cleanup();
    localStorage.clear();
  });
  afterAll(() => {
    globalThis.fetch = realFetch;
    globalThis.EventSource = realEventSource;
  });
}
