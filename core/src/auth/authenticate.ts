import type { Db } from '../db/client.js';
import type { Role } from '../db/schema.js';
import { parseAddress } from '../mail/address.js';
import { createAuditRepository } from '../repositories/audit.repository.js';
import { createAppPasswordRepository } from '../repositories/credential.repository.js';
import { createUserRepository } from '../repositories/user.repository.js';
import { hashPassword, verifyPassword } from './password.js';
import { clientIpSubject, LOGIN_FAILURES_PER_ACCOUNT, LOGIN_FAILURES_PER_IP, type RateLimiter, type RateLimitRule } from './rate-limit.js';

/**
 * Client authentication: the one sign-in check behind web sign-in, SMTP AUTH and IMAP LOGIN.
 * `authenticateClient` applies the channel's rules (which passwords open the account), the failure
 * limits per client IP and per account, and writes the audit record; callers only map its result
 * to their protocol (HTTP 401/429, SMTP 535/454, IMAP NO).
 *
 * The rules:
 * - The account is the canonical address `parseAddress` makes of the typed name, so every
 *   spelling of an address (`ALICE@bar.test`, `alice@bar.test.`, `alice@ bar.test`) is one
 *   account and one counter. A name that is no address opens nothing and counts per IP only.
 * - An attempt is counted before the password hash is checked, atomically in Redis, so parallel
 *   guesses cannot all pass a limit none of them has counted yet. A success takes its own count
 *   back; the failures counted by others stay (an app password cannot buy guesses at the account
 *   password).
 * - Clients are counted per IPv4 address and per IPv6 /64 (`clientIpSubject`).
 * - The web takes the account password only, and asks for the TOTP code next when TOTP is on.
 *   Mail clients (SMTP, IMAP) take the account password or an app password; with TOTP on, only
 *   an app password, since they cannot ask for a code.
 * Infrastructure failures (PostgreSQL, Redis) are thrown: the caller answers "try later".
 */

export type ClientChannel = 'web' | 'smtp' | 'imap';

export interface AuthenticatedUser {
  userId: number;
  address: string;
  role: Role;
  totpEnabled: boolean;
}

export interface ClientCredentials {
  /** The name as the client typed it. */
  username: string;
  password: string;
  /** The client's IP address, as the listener saw it. */
  ip: string;
  /** Recorded with the audit entry (e.g. `{ method: 'PLAIN' }`). */
  details?: Record<string, unknown>;
}

export type ClientAuthResult =
  /** `totpRequired`: web only; the session must pass the TOTP step before it is a full one. */
  | { kind: 'ok'; user: AuthenticatedUser; totpRequired: boolean }
  | { kind: 'invalid' }
  | { kind: 'limited'; by: 'ip' | 'account'; retryAfterSeconds: number };

/** The counters failed sign-ins go to; the same for every channel unless a test names its own. */
export interface SignInFailureRules {
  perIp: RateLimitRule;
  perAccount: RateLimitRule;
}

export const defaultSignInFailureRules: SignInFailureRules = { perIp: LOGIN_FAILURES_PER_IP, perAccount: LOGIN_FAILURES_PER_ACCOUNT };

export interface ClientAuthDeps {
  db: Db;
  limiter: RateLimiter;
  rules?: SignInFailureRules;
}

const CHANNELS: Record<ClientChannel, { mailClient: boolean; audit: { ok: string; totpPending?: string; failed: string } }> = {
  web: { mailClient: false, audit: { ok: 'auth.login', totpPending: 'auth.login_mfa_pending', failed: 'auth.login_failed' } },
  smtp: { mailClient: true, audit: { ok: 'auth.smtp_login', failed: 'auth.smtp_login_failed' } },
  imap: { mailClient: true, audit: { ok: 'auth.imap_login', failed: 'auth.imap_login_failed' } },
};

// Verified against when the account does not exist, so that a wrong address costs as long as a
// wrong password and response times do not reveal which addresses exist.
let dummyHash: Promise<string> | undefined;

async function burnDummyHash(password: string): Promise<void> {
  dummyHash ??= hashPassword('not a real password');
  await verifyPassword(await dummyHash, password);
}

/** Checks one sign-in attempt of `channel`: see the rules above. */
export async function authenticateClient(deps: ClientAuthDeps, channel: ClientChannel, credentials: ClientCredentials): Promise<ClientAuthResult> {
  const rules = deps.rules ?? defaultSignInFailureRules;
  const { mailClient, audit: actions } = CHANNELS[channel];
  const account = parseAddress(credentials.username)?.address ?? null;
  const attempt = await deps.limiter.attempt([[rules.perIp, clientIpSubject(credentials.ip)], ...(account ? [[rules.perAccount, account] as const] : [])]);
  if (attempt.limitedBy) {
    // Refused without looking at the password: a guess made now learns nothing.
    return { kind: 'limited', by: attempt.limitedBy.rule === rules.perIp ? 'ip' : 'account', retryAfterSeconds: attempt.limitedBy.retryAfterSeconds };
  }
  const { user, known } = account ? await checkPassword(deps.db, account, credentials.password, mailClient) : await burnDummyHash(credentials.password).then(() => ({ user: null, known: false }));
  const audit = createAuditRepository(deps.db);
  if (!user) {
    // The typed name is recorded only when it is an account: otherwise it may be a password typed in the wrong field.
    await audit.record({ actorUserId: null, actorAddress: known ? account : null, action: actions.failed, ip: credentials.ip, details: credentials.details });
    return { kind: 'invalid' };
  }
  await attempt.takeBack();
  const totpRequired = !mailClient && user.totpEnabled;
  await audit.record({ actorUserId: user.userId, actorAddress: user.address, action: totpRequired ? actions.totpPending! : actions.ok, ip: credentials.ip, details: credentials.details });
  return { kind: 'ok', user, totpRequired };
}

/**
 * The account behind `address` when `password` opens it under the channel's rules (`user`, else
 * null), and whether `address` is an account at all (`known`, a disabled one included).
 */
async function checkPassword(db: Db, address: string, password: string, mailClient: boolean): Promise<{ user: AuthenticatedUser | null; known: boolean }> {
  const user = await createUserRepository(db).findSignInCredentials(address);
  if (!user || user.disabled) {
    await burnDummyHash(password);
    return { user: null, known: user !== null };
  }
  const result = { userId: user.id, address: user.address, role: user.role, totpEnabled: user.totpEnabled };
  const accountPasswordAllowed = !(mailClient && user.totpEnabled);
  if (accountPasswordAllowed && (await verifyPassword(user.passwordHash, password))) return { user: result, known: true };
  if (mailClient) {
    const appPasswords = createAppPasswordRepository(db);
    for (const ap of await appPasswords.hashes(user.id)) {
      if (await verifyPassword(ap.passwordHash, password)) {
        await appPasswords.markUsed(user.id, ap.id);
        return { user: result, known: true };
      }
    }
  }
  return { user: null, known: true };
}

/** A protocol server's view of sign-in: `authenticateClient` with its channel fixed. */
export interface ClientAuthService {
  authenticate(credentials: ClientCredentials): Promise<ClientAuthResult>;
}

export function createClientAuthService(deps: ClientAuthDeps, channel: ClientChannel): ClientAuthService {
  return { authenticate: (credentials) => authenticateClient(deps, channel, credentials) };
}

export type PasswordConfirmation = { kind: 'ok' } | { kind: 'invalid' } | { kind: 'limited'; retryAfterSeconds: number };

/**
 * Re-checks the account password of a signed-in user (password change, turning TOTP off). A
 * wrong answer counts toward the same per-account limit as a failed sign-in, counted before the
 * hash is checked, so a stolen session cannot be used to guess the password.
 */
export async function confirmAccountPassword(deps: ClientAuthDeps, user: { userId: number; address: string }, password: string): Promise<PasswordConfirmation> {
  const rules = deps.rules ?? defaultSignInFailureRules;
  const attempt = await deps.limiter.attempt([[rules.perAccount, parseAddress(user.address)?.address ?? user.address]]);
  if (attempt.limitedBy) return { kind: 'limited', retryAfterSeconds: attempt.limitedBy.retryAfterSeconds };
  const hash = await createUserRepository(deps.db).getPasswordHash(user.userId);
  if (!hash || !(await verifyPassword(hash, password))) return { kind: 'invalid' };
  await attempt.takeBack();
  return { kind: 'ok' };
}
