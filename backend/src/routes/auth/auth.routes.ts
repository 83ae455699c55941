import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import {
  AppError,
  authenticateClient,
  createAuditRepository,
  createTotpRepository,
  type Db,
  type RateLimiter,
  type SecretBox,
  type SessionService,
} from '@mailyard/core';
import { errorResponses, loginBody, loginResponse, meResponse, noContent, totpCodeBody } from '@mailyard/core/contracts';
import { currentSession, currentUser, requireAnySession, requireMfaPending, requireUser, SESSION_COOKIE } from '../../plugins/auth.plugin.js';
import { createSecondFactor } from '../account/second-factor.js';

export interface AuthRouteDeps {
  db: Db;
  redis: Redis;
  sessions: SessionService;
  limiter: RateLimiter;
  secrets: SecretBox;
}

export function authRoutes(deps: AuthRouteDeps): FastifyPluginAsyncZod {
  const audit = createAuditRepository(deps.db);
  const totps = createTotpRepository(deps.db, deps.secrets);
  const secondFactor = createSecondFactor(deps);

  function setSessionCookie(req: FastifyRequest, reply: FastifyReply, token: string, expires: Date): void {
    reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'lax', secure: req.protocol === 'https', path: '/', expires });
  }

  return async (app) => {
    app.post(
      '/api/auth/login',
      {
        schema: {
          tags: ['auth'],
          description: 'Signs in. Accounts with TOTP get `{ mfaRequired: true, csrfToken }` and a session that only POST /api/auth/totp accepts.',
          body: loginBody,
          response: { 200: loginResponse, ...errorResponses(400, 401, 429) },
        },
      },
      async (req, reply) => {
        // Limits, the account/app password rules and the audit entry are core's (authenticateClient).
        const result = await authenticateClient(deps, 'web', { username: req.body.address, password: req.body.password, ip: req.ip });
        if (result.kind === 'limited') {
          reply.header('retry-after', String(result.retryAfterSeconds));
          throw new AppError('auth.rate_limited', `too many failed sign-ins; try again in ${Math.ceil(result.retryAfterSeconds / 60)} minute(s)`, 429);
        }
        if (result.kind === 'invalid') throw new AppError('auth.invalid', 'wrong address or password', 401);
        const { user } = result;
        if (result.totpRequired) {
          const pending = await deps.sessions.create(user.userId, { ip: req.ip, userAgent: req.headers['user-agent'], mfaPending: true });
          setSessionCookie(req, reply, pending.token, pending.expiresAt);
          return { mfaRequired: true as const, csrfToken: pending.csrfToken };
        }
        const session = await deps.sessions.create(user.userId, { ip: req.ip, userAgent: req.headers['user-agent'] });
        setSessionCookie(req, reply, session.token, session.expiresAt);
        return { id: user.userId, address: user.address, role: user.role, csrfToken: session.csrfToken };
      },
    );

    app.post(
      '/api/auth/totp',
      {
        schema: {
          tags: ['auth'],
          description: 'Second sign-in step for TOTP accounts: the code from the authenticator app completes the pending session.',
          body: totpCodeBody,
          response: { 200: meResponse, ...errorResponses(400, 401, 403, 409, 429) },
        },
        onRequest: requireMfaPending,
      },
      async (req, reply) => {
        const session = currentSession(req);
        const state = await totps.get(session.userId);
        if (!state?.enabled || !state.secret) {
          // TOTP was switched off since the password step: this half-session is of no use.
          await deps.sessions.revoke(session.sessionId);
          reply.clearCookie(SESSION_COOKIE, { path: '/' });
          throw new AppError('auth.required', 'sign in again', 401);
        }
        try {
          await secondFactor.verify(reply, session.userId, state.secret, req.body.code, 401);
        } catch (err) {
          if (err instanceof AppError && err.code.startsWith('totp.')) {
            await audit.record({ actorUserId: session.userId, actorAddress: session.address, action: 'auth.totp_failed', ip: req.ip, details: { reason: err.code } });
          }
          throw err;
        }
        const completed = await deps.sessions.completeMfa(session.sessionId);
        if (!completed) throw new AppError('auth.required', 'sign in again', 401);
        const token = req.cookies[SESSION_COOKIE];
        if (token) setSessionCookie(req, reply, token, completed.expiresAt);
        await audit.record({ actorUserId: session.userId, actorAddress: session.address, action: 'auth.login', ip: req.ip, details: { mfa: 'totp' } });
        return { id: session.userId, address: session.address, role: session.role, csrfToken: session.csrfToken };
      },
    );

    // A session waiting for its code may still be ended (the user gives up on the second step).
    app.post('/api/auth/logout', { schema: { tags: ['auth'], response: { 204: noContent, ...errorResponses(401, 403) } }, onRequest: requireAnySession }, async (req, reply) => {
      const me = currentSession(req);
      await deps.sessions.revoke(me.sessionId);
      await audit.record({ actorUserId: me.userId, actorAddress: me.address, action: 'auth.logout', ip: req.ip });
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send();
    });

    app.get('/api/me', { schema: { tags: ['auth'], response: { 200: meResponse, ...errorResponses(401) } }, onRequest: requireUser }, async (req) => {
      const me = currentUser(req);
      return { id: me.userId, address: me.address, role: me.role, csrfToken: me.csrfToken };
    });
  };
}
