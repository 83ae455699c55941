import { z } from 'zod';

/** Probes for load balancers and orchestrators (backend/src/routes/health; not in the API docs). */

/** GET /healthz: the process answers. */
export const healthResponse = z.object({ status: z.literal('ok') });
/** GET /readyz: 200 when PostgreSQL and Redis both answer, else 503 with the same body. */
export const readinessResponse = z.object({
  status: z.enum(['ready', 'not-ready']),
  checks: z.object({ postgres: z.boolean(), redis: z.boolean() }),
});
export type Readiness = z.infer<typeof readinessResponse>;

/** GET /.well-known/acme-challenge/:token (HTTP-01, RFC 8555 §8.3): an ACME token is base64url. */
export const acmeChallengeParams = z.object({ token: z.string().regex(/^[A-Za-z0-9_-]{1,256}$/) });
