/**
 * Who is signed in, as the top bar shows it: the display name the user set in Settings (what
 * their mail's From line carries), with the address in the tooltip; the address alone until the
 * settings answer, when no name is set, or when they cannot be read.
 */
import { useEffect, useState } from 'react';
import { api } from '../../api/client';

export function AccountName({ address }: { address: string }) {
  const [displayName, setDisplayName] = useState<string | null>(null);
  useEffect(() => {
    let current = true;
    api.accountSettings().then(
      (settings) => current && setDisplayName(settings.displayName?.trim() || null),
      () => undefined, // The address is shown instead: nothing to tell the user.
    );
    return () => {
      current = false;
    };
  }, [address]);
  return (
    <span className="account muted" title={displayName ? address : undefined}>
      {displayName ?? address}
    </span>
  );
}
