import { expect } from 'vitest';

/** The samples of a Prometheus text exposition, by `name{labels}` as written (comments checked: HELP then TYPE before a family's samples). */
export type Scrape = Map<string, number>;

/** GET /metrics on a probe port: 200, the 0.0.4 text type, every sample line parsed. */
export async function scrapeMetrics(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const samples: Scrape = new Map();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** How much each sample grew between two scrapes (a sample absent before counts from 0). */
export function growth(before: Scrape, after: Scrape, keys: readonly string[]): Record<string, number> {
  return Object.fromEntries(keys.map((k) => [k, (after.get(k) ?? 0) - (before.get(k) ?? 0)]));
}
