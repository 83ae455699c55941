import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import {
  AppError,
  authenticatePassword,
  createAuditRepository,
  createTotpRepository,
  errorResponse,
  LOGIN_FAILURES_PER_ACCOUNT,
  LOGIN_FAILURES_PER_IP,
  loginBody,
  loginResponse,
  meResponse,
  totpCodeBody,
  type Db,
  type RateLimiter,
  type SecretBox,
  type SessionService,
} from '@mailyard/core';
import { currentSession, currentUser, requireAnySession, requireMfaPending, requireUser, SESSION_COOKIE } from '../../plugins/auth.plugin.js';
import { createSecondFactor } from '../account/second-factor.js';

export interface AuthRouteDeps {
  db: Db;
  redis: Redis;
  sessions: SessionService;
  limiter: RateLimiter;
  secureCookies: boolean;
  secrets: SecretBox;
}

export function authRoutes(deps: AuthRouteDeps): FastifyPluginAsyncZod {
  const audit = createAuditRepository(deps.db);
  const totps = createTotpRepository(deps.db, deps.secrets);
  const secondFactor = createSecondFactor(deps);

  function setSessionCookie(req: FastifyRequest, reply: FastifyReply, token: string, expires: Date): void {
    reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'lax', secure: deps.secureCookies || req.protocol === 'https', path: '/', expires });
  }

  return async (app) => {
    app.post(
      '/api/auth/login',
      {
        schema: {
          tags: ['auth'],
          description: 'Signs in. Accounts with TOTP get `{ mfaRequired: true, csrfToken }` and a session that only POST /api/auth/totp accepts.',
          body: loginBody,
          response: { 200: loginResponse, 401: errorResponse, 429: errorResponse },
        },
      },
      async (req, reply) => {
        const address = req.body.address.trim().toLowerCase();
        for (const [rule, subject] of [[LOGIN_FAILURES_PER_IP, req.ip], [LOGIN_FAILURES_PER_ACCOUNT, address]] as const) {
          const state = await deps.limiter.check(rule, subject);
          if (state.limited) {
            reply.header('retry-after', String(state.retryAfterSeconds));
            throw new AppError('auth.rate_limited', `too many failed sign-ins; try again in ${Math.ceil(state.retryAfterSeconds / 60)} minute(s)`, 429);
          }
        }
        const user = await authenticatePassword(deps.db, address, req.body.password);
        if (!user) {
          await Promise.all([deps.limiter.hit(LOGIN_FAILURES_PER_IP, req.ip), deps.limiter.hit(LOGIN_FAILURES_PER_ACCOUNT, address)]);
          await audit.record({ actorUserId: null, actorAddress: address, action: 'auth.login_failed', ip: req.ip });
          throw new AppError('auth.invalid', 'wrong address or password', 401);
        }
        await deps.limiter.reset(LOGIN_FAILURES_PER_ACCOUNT, address);
        if (user.totpEnabled) {
          const pending = await deps.sessions.create(user.userId, { ip: req.ip, userAgent: req.headers['user-agent'], mfaPending: true });
          await audit.record({ actorUserId: user.userId, actorAddress: user.address, action: 'auth.login_mfa_pending', ip: req.ip });
          setSessionCookie(req, reply, pending.token, pending.expiresAt);
          return { mfaRequired: true as const, csrfToken: pending.csrfToken };
        }
        const session = await deps.sessions.create(user.userId, { ip: req.ip, userAgent: req.headers['user-agent'] });
        await audit.record({ actorUserId: user.userId, actorAddress: user.address, action: 'auth.login', ip: req.ip });
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
          response: { 200: meResponse, 400: errorResponse, 401: errorResponse, 403: errorResponse, 409: errorResponse, 429: errorResponse },
        },
        preHandler: requireMfaPending,
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
    app.post('/api/auth/logout', { schema: { tags: ['auth'] }, preHandler: requireAnySession }, async (req, reply) => {
      const me = currentSession(req);
      await deps.sessions.revoke(me.sessionId);
      await audit.record({ actorUserId: me.userId, actorAddress: me.address, action: 'auth.logout', ip: req.ip });
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send();
    });

    app.get('/api/me', { schema: { tags: ['auth'], response: { 200: meResponse, 401: errorResponse } }, preHandler: requireUser }, async (req) => {
      const me = currentUser(req);
      return { id: me.userId, address: me.address, role: me.role, csrfToken: me.csrfToken };
    });
  };
}
