import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import * as contracts from './index.js';

/**
 * `@mailyard/core/contracts` is what the browser imports, so it must stand on zod alone. These
 * tests follow every import of the folder's files (static and at run time) and fail on anything
 * else: `node:` modules, pg, kysely, ioredis, fastify, core's server code, or Node-only globals.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const isZod = (specifier: string) => /^zod(\/|$)/.test(specifier);
const NODE_GLOBALS = /\b(Buffer|process|require|__dirname|__filename)\b/;

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});
function scratchDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mailyard-contracts-'));
  scratch.push(dir);
  return dir;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => path.join(dir, f));
}

function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
}

function importsOf(source: string): string[] {
  const found: string[] = [];
  const patterns = [/^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm, /^\s*import\s*['"]([^'"]+)['"]/gm, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/**
 * Follows the imports of every file in `dir` (type-only ones too: the browser type-checks them)
 * and lists each that is neither zod nor another file of `dir`, and each use of a Node global.
 */
function browserProblems(dir: string): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const queue = sourceFiles(dir);
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const name = path.relative(dir, file);
    const source = withoutComments(readFileSync(file, 'utf8'));
    const global = NODE_GLOBALS.exec(source.replace(/(['"`])(?:\\.|(?!\1).)*\1/g, '""'));
    if (global) problems.push(`${name} uses the Node global ${global[1]}`);
    for (const specifier of importsOf(source)) {
      if (isZod(specifier)) continue;
      if (!specifier.startsWith('.')) {
        problems.push(`${name} imports ${specifier}`);
        continue;
      }
      const target = path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts'));
      if (path.dirname(target) !== dir) problems.push(`${name} imports ${specifier}, outside contracts/`);
      else if (!existsSync(target)) problems.push(`${name} imports ${specifier}, which does not exist`);
      else queue.push(target);
    }
  }
  return problems;
}

describe('the contracts folder', () => {
  it('imports nothing but zod and its own files', () => {
    expect(browserProblems(here)).toEqual([]);
  });

  it('would be caught importing server code, Node modules or Node globals', () => {
    const dir = scratchDir();
    writeFileSync(path.join(dir, 'index.ts'), "import { z } from 'zod';\nexport * from './a.js';\n");
    writeFileSync(path.join(dir, 'a.ts'), "import type { Pool } from 'pg';\nimport { helper } from '../mail/address.js';\nexport { b } from './b.js';\n");
    writeFileSync(path.join(dir, 'b.ts'), "// Buffer in a comment is fine\nimport fs from 'node:fs';\nexport const b = Buffer.from('x');\n");
    expect(browserProblems(dir).sort()).toEqual([
      'a.ts imports ../mail/address.js, outside contracts/',
      'a.ts imports pg',
      'b.ts imports node:fs',
      'b.ts uses the Node global Buffer',
    ]);
  });

  it('loads in a runtime where only zod and its own files can be imported', () => {
    // Compile each file on its own (as any bundler would) and load the result with a resolver
    // hook that refuses every other module, Node's built-ins included.
    const dir = scratchDir();
    const out = path.join(dir, 'contracts');
    mkdirSync(out);
    for (const file of sourceFiles(here)) {
      const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
      writeFileSync(path.join(out, path.basename(file).replace(/\.ts$/, '.js')), outputText);
    }
    writeFileSync(
      path.join(dir, 'hooks.mjs'),
      `const zodFrom = ${JSON.stringify(pathToFileURL(path.join(here, 'index.ts')).href)};
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, /^zod(\\/|$)/.test(specifier) ? { ...context, parentURL: zodFrom } : context);
  if (resolved.url.startsWith(${JSON.stringify(pathToFileURL(out).href + '/')}) || resolved.url.includes('/node_modules/zod/')) return resolved;
  throw new Error('contracts import ' + specifier + ' (from ' + context.parentURL + ')');
}
`,
    );
    writeFileSync(
      path.join(dir, 'load.mjs'),
      `import { register } from 'node:module';
register('./hooks.mjs', import.meta.url);
const contracts = await import('./contracts/index.js');
contracts.userEvent.parse({ type: 'mailbox.counts', mailboxId: 1, total: 2, unread: 1 });
process.stdout.write(JSON.stringify(Object.keys(contracts).sort()));
`,
    );
    const exported = JSON.parse(execFileSync(process.execPath, [path.join(dir, 'load.mjs')], { encoding: 'utf8' })) as string[];
    expect(exported).toEqual(Object.keys(contracts).sort());
  });
});
