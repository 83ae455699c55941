import { createHash, timingSafeEqual } from 'node:crypto';
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
 * Reads the session cookie on every request. `requireUser` rejects anonymous requests (401), a
 * session still waiting for its second factor (401 auth.mfa_required) and, for writes, a missing
 * or wrong CSRF header (403): a cookie alone never authorises a change. Routes run these guards as
 * `onRequest` hooks, before the body is parsed or validated: an anonymous request learns nothing
 * about a route's input (tests/security/route-security.test.ts walks the route table).
 */
export function registerAuth(app: FastifyInstance, sessions: SessionService): void {
  app.decorateRequest('session', null);
  app.addHook('onRequest', async (req) => {
    const token = req.cookies[SESSION_COOKIE];
    req.session = token ? await sessions.verify(token) : null;
  });
}

/**
 * Whether `given` equals the secret `expected`, in time that does not depend on where they
 * differ: both are hashed to equal-length digests first, so neither their lengths nor a common
 * prefix show in the timing.
 */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function checkCsrf(req: FastifyRequest, session: SessionUser): void {
  if (SAFE_METHODS.has(req.method)) return;
  const header = req.headers[CSRF_HEADER];
  if (typeof header !== 'string' || !sameSecret(header, session.csrfToken)) throw new AppError('auth.csrf', `missing or wrong ${CSRF_HEADER} header`, 403);
}

function mfaRequired(): AppError {
  return new AppError('auth.mfa_required', 'enter the code from your authenticator app first (POST /api/auth/totp)', 401);
}

export async function requireUser(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (!req.session) throw new AppError('auth.required', 'sign in first', 401);
  if (req.session.mfaPending) throw mfaRequired();
  checkCsrf(req, req.session);
}

/** The second sign-in step: only a session that is waiting for its TOTP code (+ CSRF, checked first like every write). */
export async function requireMfaPending(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (!req.session) throw new AppError('auth.required', 'sign in first', 401);
  checkCsrf(req, req.session);
  if (!req.session.mfaPending) throw new AppError('auth.mfa_not_pending', 'this session is not waiting for a code', 409);
}

/** Any session, complete or waiting for its second factor (+ CSRF): for logout. */
export async function requireAnySession(req: FastifyRequest, _reply: FastifyReply): Promise<void> {
  if (!req.session) throw new AppError('auth.required', 'sign in first', 401);
  checkCsrf(req, req.session);
}

/** The signed-in user of a complete session (never one still waiting for its second factor). */
export function currentUser(req: FastifyRequest): SessionUser {
  if (!req.session) throw new AppError('auth.required', 'sign in first', 401);
  if (req.session.mfaPending) throw mfaRequired();
  return req.session;
}

/** The session behind `requireMfaPending` / `requireAnySession`, pending or not. */
export function currentSession(req: FastifyRequest): SessionUser {
  if (!req.session) throw new AppError('auth.required', 'sign in first', 401);
  return req.session;
}
