import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';
import { AppError } from '@mailyard/core';

/**
 * Serves the built webmail (frontend/dist, `vite build`) at `/`: the hashed files under
 * /assets/ with a year of immutable caching, and index.html (no-cache) for `/` and every client
 * route. /api, /healthz and /metrics are the API's: an unknown path there is still the API's 404.
 * Without a build, `/` says how to make one.
 *
 * The app's pages carry a strict Content-Security-Policy: scripts only from this origin (none
 * inline), connections only to this origin, no framing. Mail bodies render in a sandboxed
 * `srcdoc` iframe, which inherits this policy, so it allows what mail needs to look right and
 * nothing that runs: inline styles (a mail's <style> and style attributes) and images from this
 * server, data: and https: (remote ones only appear after "show images"; the frame's own policy
 * narrows it further).
 */

export const webmailCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: https:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

const securityHeaders: Record<string, string> = {
  'content-security-policy': webmailCsp,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=(), display-capture=()',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

/** Paths the webmail never answers: the API's own (its JSON 404 stays). */
const apiPath = /^\/(api|healthz|metrics)(\/|$|\?)/;

/** frontend/dist of this checkout: the same three levels up from backend/src/plugins and backend/dist/plugins. */
export const defaultWebmailDir = fileURLToPath(new URL('../../../frontend/dist/', import.meta.url));

const MISSING_BUILD = 'The webmail is not built yet. Run `npm run build` (or `npm run build -w frontend`) and restart the backend.\n';

function withSecurityHeaders(reply: FastifyReply): FastifyReply {
  return reply.headers(securityHeaders);
}

export async function registerWebmail(app: FastifyInstance, options: { distDir?: string } = {}): Promise<void> {
  const distDir = options.distDir ?? defaultWebmailDir;
  const indexFile = path.join(distDir, 'index.html');
  const index = existsSync(indexFile) ? readFileSync(indexFile) : null;

  if (index && existsSync(path.join(distDir, 'assets'))) {
    await app.register(fastifyStatic, {
      root: path.join(distDir, 'assets'),
      prefix: '/assets/',
      decorateReply: false,
      index: false,
      cacheControl: false,
      setHeaders: (reply) => {
        withSecurityHeaders(reply).header('cache-control', 'public, max-age=31536000, immutable');
      },
    });
  }

  const page = async (req: { url: string; method: string }, reply: FastifyReply) => {
    if (apiPath.test(req.url)) throw new AppError('route.not_found', `no route ${req.method} ${req.url.split('?')[0]}`, 404);
    if (!index) return reply.code(503).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(MISSING_BUILD);
    return withSecurityHeaders(reply).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  };
  app.get('/', { schema: { hide: true } }, page);
  app.get('/*', { schema: { hide: true } }, page);
}
