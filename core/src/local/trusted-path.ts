import fs from 'node:fs';
import path from 'node:path';

/**
 * Checks, before we run programs from a folder, that nobody else could have put or changed them:
 * the folder, everything inside it and every folder above it (up to `trustedRoot`, `/` by
 * default) must be owned by root or by us and writable by no group or other user. Symbolic links
 * inside must stay inside. Otherwise another local user could plant binaries we would run (as the
 * postgres user, with our data). Throws `UntrustedPathError` naming the offending path and the fix.
 */

export class UntrustedPathError extends Error {
  override readonly name = 'UntrustedPathError';
}

function owners(): Set<number> {
  return new Set([0, process.getuid?.() ?? 0]);
}

function problem(file: string, stat: fs.Stats, allowed: Set<number>): string | null {
  if (!allowed.has(stat.uid)) return `${file} is owned by uid ${stat.uid}, not by root or by us`;
  if (!stat.isSymbolicLink() && (stat.mode & 0o022) !== 0) return `${file} is writable by its group or by others (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')})`;
  return null;
}

/** Throws unless `target` and each folder above it up to `trustedRoot` pass the owner and mode rules. */
export function assertTrustedPath(target: string, fix: string, trustedRoot = '/'): void {
  const allowed = owners();
  const root = path.resolve(trustedRoot);
  for (let current = path.resolve(target); ; current = path.dirname(current)) {
    const found = problem(current, fs.lstatSync(current), allowed);
    if (found) throw new UntrustedPathError(`${found}. ${fix}`);
    if (current === root || current === path.dirname(current)) return;
  }
}

/** `assertTrustedPath(dir)`, and every entry inside `dir` passes too. */
export function assertTrustedTree(dir: string, fix: string, trustedRoot = '/'): void {
  assertTrustedPath(dir, fix, trustedRoot);
  const allowed = owners();
  const top = fs.realpathSync(dir);
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const file = path.join(folder, entry.name);
      const stat = fs.lstatSync(file);
      const found = problem(file, stat, allowed);
      if (found) throw new UntrustedPathError(`${found}. ${fix}`);
      if (stat.isSymbolicLink()) {
        const target = path.resolve(folder, fs.readlinkSync(file));
        if (target !== top && !target.startsWith(`${top}${path.sep}`)) throw new UntrustedPathError(`${file} links outside ${dir}. ${fix}`);
      } else if (stat.isDirectory()) {
        walk(file);
      }
    }
  };
  walk(top);
}
