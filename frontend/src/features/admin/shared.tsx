/**
 * What the admin views share: loading a resource with its loading/error/retry states, API errors
 * in plain words (a 403 says it is a matter of rights), dates, and the error block.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../../api/client';

export function describeAdminError(err: unknown): string {
  if (!(err instanceof ApiError)) return 'Something went wrong. Try again.';
  if (err.status === 403) return `You do not have the rights for this. ${err.message}`;
  return err.message;
}

export interface Resource<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload(): void;
}

/** Loads `load()` now and on reload(); the last answer wins. */
export function useResource<T>(load: () => Promise<T>): Resource<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({ data: null, error: null, loading: true });
  const latest = useRef(0);
  const reload = useCallback(() => {
    const call = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => call === latest.current && setState({ data, error: null, loading: false }),
      (err: unknown) => call === latest.current && setState((s) => ({ ...s, error: describeAdminError(err), loading: false })),
    );
  }, [load]);
  useEffect(reload, [reload]);
  return { ...state, reload };
}

export { ErrorBlock } from '../../app/error-block';

/** A short local date and time: "3 Mar 14:05". */
export function formatTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

/** Runs an action, reporting its error in words; returns whether it succeeded. */
export function useAction(): { busy: boolean; error: string | null; run(action: () => Promise<unknown>): Promise<boolean>; clear(): void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(async (action: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      return true;
    } catch (err) {
      setError(describeAdminError(err));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(null) };
}
