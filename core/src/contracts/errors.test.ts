import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { apiErrorCodes, errorResponses } from './errors.js';

/**
 * `apiErrorCodes` is the browser's list of what `error.code` can be. It is kept true by reading
 * the server's sources: every code core or the backend throws must be on it, and every code on it
 * must still be used somewhere.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SERVER_SOURCES = ['core/src', 'backend/src'];
/**
 * Codes that never reach an API answer: a bounce the outbound worker could not build, a
 * subscription to a closed event hub (the SSE route has started its stream by then), a
 * service that cannot reach Redis at start-up, and a DKIM key sealed with another SECRET_KEY (only
 * the outbound worker opens private keys).
 */
const NOT_API_CODES = new Set(['dsn.no_recipients', 'dsn.null_sender', 'events.hub_closed', 'redis.unreachable', 'dkim.key_unreadable', 'db.schema_newer', 'redis.bad_target']);
/** `new AppError('x.y'`, `super('x.y'` in its subclasses, and codes held in a variable or option first. */
const THROWN_CODE = /(?:new AppError\(|super\(|\bcode = |\bcode: )\s*'([a-z_]+\.[a-z_.]+)'/g;

function serverSources(): Array<{ file: string; text: string }> {
  return SERVER_SOURCES.flatMap((dir) =>
    (readdirSync(path.join(root, dir), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('contracts'))
      .map((f) => ({ file: path.join(dir, f), text: readFileSync(path.join(root, dir, f), 'utf8') })),
  );
}

describe('apiErrorCodes', () => {
  const sources = serverSources();

  it('lists every code the server throws', () => {
    const thrown = new Set(sources.flatMap(({ text }) => [...text.matchAll(THROWN_CODE)].map((m) => m[1]!)));
    const listed = new Set<string>(apiErrorCodes);
    expect([...thrown].filter((code) => !listed.has(code) && !NOT_API_CODES.has(code)).sort()).toEqual([]);
  });

  it('lists only codes the server still uses, each once', () => {
    const unused = apiErrorCodes.filter((code) => !sources.some(({ text }) => text.includes(`'${code}'`)));
    expect(unused).toEqual([]);
    expect(new Set(apiErrorCodes).size).toBe(apiErrorCodes.length);
  });
});

describe('errorResponses', () => {
  it('gives each status the error body', () => {
    const responses = errorResponses(400, 404);
    expect(Object.keys(responses)).toEqual(['400', '404']);
    expect(responses[404].parse({ error: { code: 'message.not_found', message: 'no such message' }, requestId: 'r1' })).toBeTruthy();
  });
});
