import { describe, expect, it } from 'vitest';
import { nextSessionId } from './session-ids.js';

describe('nextSessionId', () => {
  it('gives distinct ids in the library format, across refills of the pool', () => {
    const ids = Array.from({ length: 2_000 }, () => nextSessionId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-v]{16}$/);
  });
});
