import { z } from 'zod';

/**
 * How the API answers an error, and the stable codes it uses. Every error is
 * `{ error: { code, message }, requestId }` with an HTTP status; `code` is one of `apiErrorCodes`
 * (a client switches on the code, shows the message, and quotes the requestId when reporting).
 */

export const apiErrorCodes = [
  // Requests in general (backend/src/plugins/errors.plugin.ts)
  'request.invalid',
  'request.too_large',
  'route.not_found',
  /** GET /.well-known/acme-challenge/<token> with no pending ACME challenge for the token. */
  'acme.challenge_not_found',
  'internal',
  /** 503 with Retry-After: PostgreSQL or Redis is out of reach for a moment (restarting, a dropped connection). */
  'service.unavailable',
  // Heavy work off the event loop (core/src/util/worker-pool.ts: rendering a message)
  'worker_pool.busy',
  'worker_pool.closed',
  'worker_pool.crashed',
  // Sign-in, sessions and account security
  'auth.required',
  'auth.invalid',
  'auth.csrf',
  'auth.forbidden',
  'auth.mfa_required',
  'auth.mfa_not_pending',
  'auth.rate_limited',
  'password.invalid',
  'totp.invalid',
  'totp.replayed',
  'totp.already_enabled',
  'totp.not_enabled',
  'totp.not_set_up',
  'app_password.exists',
  'app_password.limit',
  'app_password.not_found',
  // Mailboxes and messages
  'mailbox.not_found',
  'mailbox.exists',
  'mailbox.name_invalid',
  'mailbox.protected',
  'mailbox.not_emptyable',
  'message.not_found',
  'message.not_in_trash',
  'message.unavailable',
  'attachment.not_found',
  /** A signed inline-image link that is expired or not signed by this server. */
  'attachment.link_invalid',
  'thread.not_found',
  'flags.invalid',
  'flags.too_many',
  'search.invalid',
  'quota.exceeded',
  // Importing mail (POST /api/account/import)
  /** The body is not an mbox file (or none was sent). */
  'import.invalid',
  /** Over IMPORT_MAX_BYTES (413). */
  'import.too_large',
  /** Another import of the same user's mail is running (409). */
  'import.in_progress',
  // Spam filtering: sender lists (core/src/contracts/filters.ts)
  'validation.failed',
  'sender_rule.not_found',
  // Composing and sending
  'upload.invalid',
  'upload.not_found',
  'upload.too_large',
  'draft.not_found',
  'draft.invalid_address',
  'draft.rate_limited',
  'message.too_large',
  'send.invalid_address',
  'send.unknown_recipient',
  'send.no_recipients',
  'send.too_many_recipients',
  'send.rate_limited',
  'send.sender_not_allowed',
  'send.from_missing',
  'send.header_repeated',
  'send.schedule_invalid',
  /** The Idempotency-Key header is not 1–255 visible ASCII characters (400). */
  'send.idempotency_key_invalid',
  /** The Idempotency-Key was used before for a different message (422). */
  'send.idempotency_key_reused',
  'scheduled.not_found',
  'scheduled.not_pending',
  'outbound.not_found',
  'outbound.not_pending',
  'outbound.in_progress',
  // Administration
  'admin.self',
  'address.invalid',
  'domain.invalid',
  'domain.exists',
  'domain.not_found',
  'domain.not_empty',
  'user.exists',
  'user.not_found',
  'alias.exists',
  'alias.not_found',
  'domain_admin.exists',
  'domain_admin.not_found',
  'dkim.selector_invalid',
  'dkim.selector_exists',
] as const;
export const apiErrorCode = z.enum(apiErrorCodes);
export type ApiErrorCode = z.infer<typeof apiErrorCode>;

/**
 * The body of every error answer. `code` is typed as a string, not the enum, so that a server
 * newer than the client still parses; compare it with `apiErrorCodes`.
 */
export const errorResponse = z
  .object({
    error: z.object({ code: z.string().describe(`a stable code: ${apiErrorCodes.join(', ')}`), message: z.string() }),
    requestId: z.string(),
  })
  .describe('an error');
export type ErrorResponse = z.infer<typeof errorResponse>;

/** The error answers of a route, for its response schema: `errorResponses(400, 401, 404)`. */
export function errorResponses<const S extends readonly number[]>(...statuses: S): { [K in S[number]]: typeof errorResponse } {
  return Object.fromEntries(statuses.map((status) => [status, errorResponse])) as { [K in S[number]]: typeof errorResponse };
}
