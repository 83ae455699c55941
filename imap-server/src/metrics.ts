import type { MetricsRegistry } from '@mailyard/core';
import { COMMANDS } from './handlers/commands.js';

/**
 * The imap-server's metrics: connections open now and accepted (both listeners, STARTTLS or
 * implicit TLS, refused ones included), and commands by name: the names the server knows
 * (handlers/commands.ts, `UID FETCH` for UID commands), anything else (unknown or unparsable)
 * as `other`, so a client cannot grow the label set. Served on WORKER_HEALTH_PORT's /metrics.
 */
export interface ImapMetrics {
  connectionOpened(): void;
  connectionClosed(): void;
  /** A command line read: its parsed name, or null when it did not parse. */
  command(name: string | null): void;
}

export function createImapMetrics(registry: MetricsRegistry): ImapMetrics {
  const open = registry.gauge('mailyard_imap_connections', 'IMAP connections open now.');
  const opened = registry.counter('mailyard_imap_connections_total', 'IMAP connections accepted (refused ones included).');
  const commands = registry.counter('mailyard_imap_commands_total', 'IMAP commands received, by name (unknown or unparsable: other).', ['command']);
  open.set({}, 0);
  opened.inc({}, 0);
  return {
    connectionOpened() {
      opened.inc();
      open.inc();
    },
    connectionClosed: () => open.dec(),
    command: (name) => commands.inc({ command: name !== null && Object.hasOwn(COMMANDS, name) ? name : 'other' }),
  };
}
