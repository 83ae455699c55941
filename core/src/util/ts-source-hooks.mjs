// Module hooks for ts-source-worker.mjs: `./x.js` resolves to `./x.ts` when only the source
// exists, and .ts files are compiled (types stripped) by TypeScript as they load.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

let compiler;

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (!/^(\.{1,2}\/|file:).*\.js$/.test(specifier)) throw err;
    return next(specifier.replace(/\.js$/, '.ts'), context);
  }
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  compiler ??= (await import('typescript')).default;
  const source = await readFile(new URL(url), 'utf8');
  const { outputText } = compiler.transpileModule(source, {
    fileName: fileURLToPath(url),
    compilerOptions: { module: compiler.ModuleKind.ESNext, target: compiler.ScriptTarget.ES2022, sourceMap: false },
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}
