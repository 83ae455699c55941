import type { FastifyInstance } from 'fastify';

/**
 * The routes a built Fastify app serves, read from its own route table (`printRoutes`), so a test
 * that walks them cannot miss a route someone adds later. HEAD routes Fastify adds for each GET
 * are left out.
 */

export interface RouteEntry {
  method: string;
  /** The path as registered, with `:param` and `*` segments. */
  url: string;
}

const LINE = /^((?:[│ ] {3})*)[├└]── (.+) \(([A-Z, ]+)\)$/u;

/** Every method + URL of `app` (after `ready()`), sorted. */
export function routeTable(app: FastifyInstance): RouteEntry[] {
  const text = app.printRoutes({ commonPrefix: false });
  const parents: string[] = [];
  const routes: RouteEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    // A node without its own methods is printed with no "(METHODS)" suffix: only a prefix.
    const withMethods = LINE.exec(line);
    const bare = withMethods ? null : /^((?:[│ ] {3})*)[├└]── (.+)$/u.exec(line);
    const match = withMethods ?? bare;
    if (!match) throw new Error(`unexpected route table line: ${JSON.stringify(line)}`);
    const depth = match[1]!.length / 4;
    const url = (parents[depth - 1] ?? '') + match[2]!;
    parents.length = depth;
    parents.push(url);
    for (const method of withMethods ? match[3]!.split(', ') : []) {
      if (method !== 'HEAD') routes.push({ method, url });
    }
  }
  return routes.sort((a, b) => `${a.url} ${a.method}`.localeCompare(`${b.url} ${b.method}`));
}

/** A concrete URL for a route: every `:param` becomes `value` and a trailing `*` becomes `rest`. */
export function concreteUrl(url: string, value = '1', rest = 'x'): string {
  return url.replace(/:[A-Za-z0-9_]+/g, value).replace(/\*$/, rest);
}
