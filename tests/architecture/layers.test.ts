import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The import rules of docs/ARCHITECTURE.md, checked on the sources: apps never import each other,
 * SQL lives in core's repositories, repositories sit at the bottom of core, and protocol handlers
 * get narrow interfaces instead of a database handle.
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const APPS = ['smtp-server', 'inbound-worker', 'outbound-worker', 'backend', 'imap-server', 'frontend'];

function sourceFiles(dir: string): string[] {
  let out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  for (const name of entries) {
    if (name === 'node_modules' || name === 'dist') continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out = out.concat(sourceFiles(full));
    else if (/\.(ts|tsx)$/.test(name) && !/\.test\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** Module specifiers of every import/export-from in a file. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)\s(?:[^'"]*?\sfrom\s)?['"]([^'"]+)['"]/g)].map((m) => m[1]!);
}

const rel = (file: string) => relative(root, file);

describe('architecture', () => {
  it('no app imports another app (only @mailyard/core)', () => {
    const offences: string[] = [];
    for (const app of APPS) {
      for (const file of sourceFiles(join(root, app, 'src'))) {
        for (const spec of importsOf(file)) {
          const other = APPS.find((a) => a !== app && (spec === `@mailyard/${a}` || spec.startsWith(`@mailyard/${a}/`) || (spec.startsWith('.') && resolve(dirname(file), spec).startsWith(join(root, a) + '/'))));
          if (other) offences.push(`${rel(file)} imports ${spec}`);
        }
      }
    }
    expect(offences).toEqual([]);
  });

  it('SQL is written only in core/src/repositories (and the migrations and db setup)', () => {
    const query = /\.(selectFrom|insertInto|updateTable|deleteFrom)\(|\bsql(<[^>]*>)?`/;
    const offences: string[] = [];
    for (const dir of ['core/src', ...APPS.map((a) => `${a}/src`)]) {
      for (const file of sourceFiles(join(root, dir))) {
        const path = rel(file);
        if (path.startsWith('core/src/repositories/') || path.startsWith('core/src/db/')) continue;
        if (query.test(readFileSync(file, 'utf8'))) offences.push(path);
      }
    }
    expect(offences).toEqual([]);
  });

  it('repositories import nothing from the layers above them', () => {
    const above = ['mail', 'accounts', 'auth', 'events', 'queue', 'spool', 'search', 'runtime', 'cli', 'local'];
    const offences: string[] = [];
    for (const file of sourceFiles(join(root, 'core/src/repositories'))) {
      for (const spec of importsOf(file)) {
        if (!spec.startsWith('.')) continue;
        const target = relative(join(root, 'core/src'), resolve(dirname(file), spec)).split('/')[0]!;
        if (above.includes(target)) offences.push(`${rel(file)} imports ${spec}`);
      }
    }
    expect(offences).toEqual([]);
  });

  it('protocol handlers take narrow interfaces, never the database handle', () => {
    const offences: string[] = [];
    for (const dir of ['smtp-server/src/handlers', 'smtp-server/src/protocol', 'imap-server/src/protocol', 'imap-server/src/handlers']) {
      for (const file of sourceFiles(join(root, dir))) {
        const text = readFileSync(file, 'utf8');
        if (/\bDb\b|\bkysely\b|from 'pg'/.test(text)) offences.push(rel(file));
      }
    }
    expect(offences).toEqual([]);
  });
});
