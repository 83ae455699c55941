import type { Parameters } from 'fast-check';

/**
 * Run counts for the fuzz properties (fast-check). `npm test` runs each property a bounded number
 * of times so the suite stays quick; `npm run fuzz` (scripts/fuzz.mjs) sets FUZZ_RUNS to run the
 * same properties many more times. FUZZ_SEED replays a failure fast-check reported.
 */

const requested = Number(process.env.FUZZ_RUNS ?? '');
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

/** Whether this is a long fuzz run (FUZZ_RUNS set). */
export const longFuzz = Number.isInteger(requested) && requested > 0;

/** fast-check parameters: `bounded` runs in npm test, FUZZ_RUNS in a fuzz run. */
export function fuzzParams<T>(bounded: number): Parameters<T> {
  return { numRuns: longFuzz ? requested : bounded, ...(seed === undefined || Number.isNaN(seed) ? {} : { seed }) };
}

/** The vitest timeout of a fuzz test: its usual one, or hours for a long run. */
export function fuzzTimeout(boundedMs: number): number {
  return longFuzz ? 6 * 60 * 60 * 1000 : boundedMs;
}
