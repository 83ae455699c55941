// Shared by `npm start` and `npm test`: plain Node (no dependencies), so it runs before `npm install`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

export function mustRun(what, command, args, options) {
  const status = run(command, args, options);
  if (status !== 0) {
    console.error(`\n${what} failed (exit ${status}).`);
    process.exit(status);
  }
}

/** npm dependencies: installed when node_modules is missing or older than the lock file. */
export function ensureNodeModules() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  if (existsSync(marker)) return;
  console.log('Installing npm dependencies…');
  mustRun('npm install', 'npm', [existsSync(join(root, 'package-lock.json')) ? 'ci' : 'install', '--no-audit', '--no-fund']);
}

/** Debian packages for commands that are missing (see ensure-system-deps.sh). */
export function ensureSystemPackages(specs) {
  mustRun('Installing system packages', 'bash', [join(root, 'scripts', 'ensure-system-deps.sh'), ...specs]);
}

export function build() {
  mustRun('Build (tsc -b)', process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'stack/tsconfig.json']);
  // The webmail: type-checked, then bundled by Vite into frontend/dist (the backend serves it).
  mustRun('Webmail type-check', process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'frontend/tsconfig.json']);
  mustRun('Webmail build (vite)', process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'frontend', '--logLevel', 'warn']);
}
