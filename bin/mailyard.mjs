#!/usr/bin/env node
// `npx mailyard …`: the admin CLI. Builds the TypeScript once if it has not been built yet.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'core', 'dist', 'cli', 'main.js');
if (!existsSync(entry)) {
  if (!existsSync(join(root, 'node_modules', 'typescript'))) {
    console.error('mailyard: dependencies are not installed; run `npm install` (or `npm start` once) in ' + root);
    process.exit(1);
  }
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', join(root, 'core', 'tsconfig.json')], { stdio: 'inherit' });
}
const { main } = await import(pathToFileURL(entry).href);
await main();
