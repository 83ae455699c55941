/**
 * The user's storage (GET /api/account/usage): "X of Y used" with a bar, or "X used" without a
 * quota. At the quota, says what it means: new mail waits and sending stops until mail is deleted.
 */
import { useEffect, useState } from 'react';
import type { AccountUsage } from '@mailyard/core/contracts';
import { byteSize } from '../mail/format';
import { describeError } from './describe-error';

export function StorageUsage({ load }: { load(): Promise<AccountUsage> }) {
  const [usage, setUsage] = useState<AccountUsage | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    load().then(setUsage, (err: unknown) => setError(describeError(err)));
  }, [load]);

  const quota = usage?.quotaBytes ?? null;
  const full = usage !== null && quota !== null && usage.usedBytes >= quota;
  return (
    <section className="settings-form" aria-labelledby="storage-title">
      <h2 id="storage-title">Storage</h2>
      {usage === null && !error && <p className="muted">Loading…</p>}
      {usage !== null && quota === null && <p>{byteSize(usage.usedBytes)} used (no limit)</p>}
      {usage !== null && quota !== null && (
        <>
          <label>
            {byteSize(usage.usedBytes)} of {byteSize(quota)} used
            <meter min={0} max={Math.max(quota, 1)} value={Math.min(usage.usedBytes, quota)} high={quota * 0.9} optimum={0} />
          </label>
          {full && (
            <p className="error" role="alert">
              Your mailbox is full: new mail waits and you cannot send or save drafts until you delete some mail and empty the Trash.
            </p>
          )}
        </>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
