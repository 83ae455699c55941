import { existsSync } from 'node:fs';
import path from 'node:path';
import { runCommand } from './services.js';

/**
 * An independent DKIM verifier for tests: Debian's python3-dkim (dkimpy), not the JavaScript code
 * that signed the message. The public key is looked up as TXT on the given DNS server only (a
 * dnsmasq from tests/helpers/dnsmasq.ts), never on the system resolver.
 */

export const SYSTEM_PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(import.meta.dirname, 'dkim-verify.py');

/** True when Debian's python3 with the dkim and dns (dnspython) modules is installed. */
export const hasDkimVerifier =
  existsSync(SYSTEM_PYTHON) && existsSync('/usr/lib/python3/dist-packages/dkim') && existsSync('/usr/lib/python3/dist-packages/dns');

/**
 * Verifies the topmost DKIM-Signature of `raw`. `dnsServer` is `host:port` (e.g. dnsmasq's
 * `server`). `ok` is true only when the signature verifies; `detail` says what was looked up and why
 * it failed. A broken verifier (python error, bad output) rejects instead of returning ok:false.
 */
export async function verifyDkim(raw: Buffer, dnsServer: string): Promise<{ ok: boolean; detail: string }> {
  const match = /^(.+):(\d+)$/.exec(dnsServer);
  if (!match) throw new Error(`verifyDkim: dnsServer must be host:port, got ${dnsServer}`);
  // Debian's own python (a pyenv python3 on PATH does not see python3-dkim).
  const result = await runCommand(SYSTEM_PYTHON, [SCRIPT, match[1]!, match[2]!], {
    input: raw,
    timeoutMs: 30_000,
    env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' },
  });
  let parsed: { ok?: unknown; detail?: unknown };
  try {
    parsed = JSON.parse(result.stdout.trim().split('\n').pop() ?? '') as typeof parsed;
  } catch {
    throw new Error(`verifyDkim: verifier exited ${result.code} without a result: ${result.stdout}${result.stderr}`);
  }
  if (result.code === 2 || result.code === null) throw new Error(`verifyDkim: ${String(parsed.detail)} ${result.stderr}`);
  const ok = parsed.ok === true && result.code === 0;
  return { ok, detail: String(parsed.detail ?? '') };
}
