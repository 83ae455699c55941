import type { FastifyInstance } from 'fastify';

/**
 * HTTP to HTTPS, once the certificate is one browsers trust (from ACME or TLS_CERT_FILE/TLS_KEY_FILE;
 * the self-signed fallback of a first `npm start` is not): a plain-HTTP request gets a 301 to the same
 * URL on HTTPS, except the ACME challenge (acme-challenge.routes.ts) and the probes (health, readiness, metrics), which
 * answer on HTTP too; HTTPS answers carry HSTS. "HTTPS" is the request's protocol as Fastify sees
 * it: the socket's, or X-Forwarded-Proto from a proxy in TRUST_PROXY.
 */

export interface HttpsPolicy {
  /** Whether the certificate in use is a trusted one (asked per request: it can change at run time). */
  trusted(): boolean;
  /** The HTTPS port clients reach (omitted from the redirect when 443); known once it listens. */
  port(): number;
}

export const HSTS_HEADER = 'max-age=31536000';
const PLAIN_HTTP_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

function servedOverPlainHttp(pathname: string): boolean {
  return PLAIN_HTTP_PATHS.has(pathname) || pathname.startsWith(ACME_CHALLENGE_PREFIX);
}

export function registerHttpsPolicy(app: FastifyInstance, policy: HttpsPolicy, fallbackHost: string): void {
  app.addHook('onRequest', async (req, reply) => {
    if (!policy.trusted()) return;
    if (req.protocol === 'https') {
      reply.header('strict-transport-security', HSTS_HEADER);
      return;
    }
    if (servedOverPlainHttp(req.url.split('?', 1)[0]!)) return;
    const host = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/i.test(req.hostname) ? req.hostname : fallbackHost;
    const port = policy.port() === 443 ? '' : `:${policy.port()}`;
    return reply.redirect(`https://${host}${port}${req.url}`, 301);
  });
}
