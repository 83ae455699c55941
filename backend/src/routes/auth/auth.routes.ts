import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  AppError,
  authenticatePassword,
  createAuditRepository,
  errorResponse,
  LOGIN_FAILURES_PER_ACCOUNT,
  LOGIN_FAILURES_PER_IP,
  loginBody,
  meResponse,
  type Db,
  type RateLimiter,
  type SessionService,
} from '@mailyard/core';
import { currentUser, requireUser, SESSION_COOKIE } from '../../plugins/auth.plugin.js';

export interface AuthRouteDeps {
  db: Db;
  sessions: SessionService;
  limiter: RateLimiter;
  secureCookies: boolean;
}

export function authRoutes(deps: AuthRouteDeps): FastifyPluginAsyncZod {
  const audit = createAuditRepository(deps.db);
  return async (app) => {
    app.post(
      '/api/auth/login',
      { schema: { tags: ['auth'], body: loginBody, response: { 200: meResponse, 401: errorResponse, 429: errorResponse } } },
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
        const session = await deps.sessions.create(user.userId, { ip: req.ip, userAgent: req.headers['user-agent'] });
        await audit.record({ actorUserId: user.userId, actorAddress: user.address, action: 'auth.login', ip: req.ip });
        reply.setCookie(SESSION_COOKIE, session.token, {
          httpOnly: true,
          sameSite: 'lax',
          secure: deps.secureCookies || req.protocol === 'https',
          path: '/',
          expires: session.expiresAt,
        });
        return { id: user.userId, address: user.address, role: user.role, csrfToken: session.csrfToken };
      },
    );

    app.post('/api/auth/logout', { schema: { tags: ['auth'] }, preHandler: requireUser }, async (req, reply) => {
      const me = currentUser(req);
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
