import { startLocalRspamd, type LocalRspamd, type LocalRspamdOptions } from '../../core/src/local/rspamd.js';

/**
 * A private rspamd from Debian for tests (core/src/local/rspamd.ts: its own config, run and
 * database directories, loopback ports, offline, stopped by PID). npm test installs rspamd
 * (scripts/test.mjs); a test that needs it fails without it, never skips.
 */

export type TestRspamd = LocalRspamd;

export function startRspamd(options: LocalRspamdOptions): Promise<TestRspamd> {
  return startLocalRspamd(options);
}
