import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import { AppError, createAcmeChallengeStore } from '@mailyard/core';
import { acmeChallengeParams, errorResponses, nonJsonResponse } from '@mailyard/core/contracts';

/**
 * HTTP-01 (RFC 8555 §8.3): GET /.well-known/acme-challenge/<token> answers the key authorization
 * the ACME run stored in Redis, so whichever backend replica the CA reaches on port 80 answers it
 * (the HTTPS policy never redirects this path). No pending challenge: 404.
 */
export function acmeChallengeRoutes(deps: { redis: Redis }): FastifyPluginAsyncZod {
  const challenges = createAcmeChallengeStore(deps.redis);
  return async (app) => {
    app.get(
      '/.well-known/acme-challenge/:token',
      { schema: { hide: true, params: acmeChallengeParams, response: { 200: nonJsonResponse('application/octet-stream', 'the key authorization of a pending ACME HTTP-01 challenge'), ...errorResponses(404) } } },
      async (req, reply) => {
        const keyAuthorization = await challenges.get(req.params.token);
        if (keyAuthorization === null) throw new AppError('acme.challenge_not_found', 'no pending ACME challenge for this token', 404);
        return reply.type('application/octet-stream').send(keyAuthorization);
      },
    );
  };
}
