import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type SessionService, type SessionUser } from '@mailyard/core';

export const SESSION_COOKIE = 'mailyard_session';
export const CSRF_HEADER = 'x-csrf-token';

declare module 'fastify' {
  interface FastifyRequest {
    session: SessionUser | null;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Reads the session cookie on every request. `requireUser` rejects anonymous requests (401) and,
 * for writes, a missing or wrong CSRF header (403): a cookie alone never authorises a change.
 */
export function registerAuth(app: FastifyInstance, sessions: SessionService): void {
  app.decorateRequest('session', null);
  app.addHook('onRequest', async (req) => {
    const token = req.cookies[SESSION_COOKIE];
    req.session = token ? await sessions.verify(token) : null;
  });
}

export async function requireUser(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (!req.session) throw new AppError('auth.required', 'sign in first', 401);
  if (!SAFE_METHODS.has(req.method)) {
    const header = req.headers[CSRF_HEADER];
    if (typeof header !== 'string' || header !== req.session.csrfToken) throw new AppError('auth.csrf', `missing or wrong ${CSRF_HEADER} header`, 403);
  }
}

export function currentUser(req: FastifyRequest): SessionUser {
  if (!req.session) throw new AppError('auth.required', 'sign in first', 401);
  return req.session;
}
