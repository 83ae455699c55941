import { z } from 'zod';
import { role } from './common.js';

/**
 * Sign-in (backend/src/routes/auth): password, then the TOTP code for accounts that have one.
 * A session is a cookie; every write also sends the session's CSRF token as `x-csrf-token`.
 */

export const loginBody = z.object({
  address: z.string().min(3).max(320),
  password: z.string().min(1).max(1024),
});
export type LoginBody = z.input<typeof loginBody>;

/** The signed-in user (GET /api/me, and the answer of a completed sign-in). */
export const meResponse = z.object({
  id: z.number().int(),
  address: z.string(),
  role,
  /** For the `x-csrf-token` header of every write. */
  csrfToken: z.string(),
});
export type Me = z.infer<typeof meResponse>;

/** Sign-in answer for an account with TOTP: the session exists but waits for POST /api/auth/totp. */
export const mfaRequiredResponse = z.object({
  mfaRequired: z.literal(true),
  /** For the CSRF header of the second step. */
  csrfToken: z.string(),
});
export type MfaRequired = z.infer<typeof mfaRequiredResponse>;

/** POST /api/auth/login: the signed-in user, or (TOTP accounts) a request for the code. */
export const loginResponse = z.union([meResponse, mfaRequiredResponse]);
export type LoginResponse = z.infer<typeof loginResponse>;

/** A 6-digit authenticator code; surrounding spaces are forgiven. */
export const totpCode = z.string().trim().regex(/^\d{6}$/, 'expected the 6-digit code from the authenticator app');
/** POST /api/auth/totp and POST /api/account/totp/enable. */
export const totpCodeBody = z.object({ code: totpCode });
export type TotpCodeBody = z.input<typeof totpCodeBody>;
