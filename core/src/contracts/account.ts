import { z } from 'zod';
import { totpCode } from './auth.js';
import { nonJsonResponse } from './common.js';

/** The signed-in user's account (backend/src/routes/account): password, TOTP, app passwords, settings. */

export const changePasswordBody = z.object({
  currentPassword: z.string().min(1).max(1024),
  /** Length rules are core's passwordProblem (answered as password.invalid). */
  newPassword: z.string().max(4096),
});
export type ChangePasswordBody = z.input<typeof changePasswordBody>;

export const totpStatusResponse = z.object({ enabled: z.boolean(), pendingSetup: z.boolean() });
export type TotpStatus = z.infer<typeof totpStatusResponse>;
/** The new secret, also as an otpauth:// URL for a QR code. */
export const totpSetupResponse = z.object({ secret: z.string(), otpauthUrl: z.string() });
export type TotpSetup = z.infer<typeof totpSetupResponse>;
/** Setting up a new authenticator needs the account password, like turning it off. */
export const totpSetupBody = z.object({ password: z.string().min(1).max(1024) });
export type TotpSetupBody = z.input<typeof totpSetupBody>;
export const totpDisableBody = z.object({ password: z.string().min(1).max(1024), code: totpCode });
export type TotpDisableBody = z.input<typeof totpDisableBody>;

export const appPasswordSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
});
export type AppPasswordDto = z.infer<typeof appPasswordSchema>;
export const appPasswordListResponse = z.object({ appPasswords: z.array(appPasswordSchema) });
export type AppPasswordListResponse = z.infer<typeof appPasswordListResponse>;
/** `password`: the account password, asked again (a session alone cannot mint a long-lived credential). */
export const appPasswordCreateBody = z.object({ name: z.string().trim().min(1).max(100), password: z.string().min(1).max(1024) });
export type AppPasswordCreateBody = z.input<typeof appPasswordCreateBody>;
/** The only time the password itself is shown. */
export const appPasswordCreatedResponse = z.object({ id: z.number().int(), name: z.string(), password: z.string() });
export type AppPasswordCreated = z.infer<typeof appPasswordCreatedResponse>;

/** The From name of mail the user sends from the webmail: one line, no control characters ('' clears it). */
export const displayNameSchema = z.string().trim().max(100).regex(/^[^\p{Cc}]*$/u, 'one line without control characters');
/** Plain text that compose inserts under a `-- ` line: lines and tabs, no other control characters ('' for none). */
export const signatureSchema = z.string().max(2000).regex(/^(?:[^\p{Cc}]|[\n\t])*$/u, 'plain text without control characters');

/**
 * Mail settings of the user. `undoSendSeconds`: how long a sent message is held so it can be undone
 * (0 sends at once); `displayName`: the From name of what they send (null: none); `signature`: what
 * compose inserts ('' for none).
 */
export const accountSettingsResponse = z.object({ undoSendSeconds: z.number().int().min(0).max(30), displayName: z.string().nullable(), signature: z.string() });
export type AccountSettings = z.infer<typeof accountSettingsResponse>;
export const accountSettingsBody = z.object({
  undoSendSeconds: z.number().int().min(0).max(30).optional(),
  displayName: displayNameSchema.nullable().optional(),
  signature: signatureSchema.optional(),
});
export type AccountSettingsBody = z.input<typeof accountSettingsBody>;

/** The user's storage: bytes of mail stored and their quota (null: none). At the quota, new mail waits and sending stops. */
export const accountUsageResponse = z.object({ usedBytes: z.number().int().min(0), quotaBytes: z.number().int().min(0).nullable() });
export type AccountUsage = z.infer<typeof accountUsageResponse>;

/** GET /api/account/export: the user's mail as one mbox file (every folder, or the one named), as `npx mailyard export` writes it. */
export const accountExportQuery = z.object({ mailbox: z.string().min(1).max(1000).optional() });
export type AccountExportQuery = z.input<typeof accountExportQuery>;
export const accountExportResponse = nonJsonResponse('application/mbox', 'all mail (or one folder) as an mbox download: folders and flags in X-Mailyard-Folder / Status / X-Status / X-Keywords fields', { binary: true });

/**
 * POST /api/account/import: an mbox file (as GET /api/account/export or `npx mailyard export`
 * writes it, or Thunderbird, mutt, Google Takeout) as the raw request body, `application/mbox` or
 * `application/octet-stream`. Folders and flags come from its X-Mailyard-Folder / Status /
 * X-Status / X-Keywords fields; `mailbox` files everything into that folder instead (made if missing).
 */
export const accountImportQuery = z.object({ mailbox: z.string().min(1).max(1000).optional() });
export type AccountImportQuery = z.input<typeof accountImportQuery>;
/** The body: the file's bytes, streamed (documents the body; the route reads the stream itself). */
export const accountImportBody = z.unknown().meta({ type: 'string', format: 'binary', description: 'the mbox file' });
/** The content types the body may have. */
export const accountImportContentTypes = ['application/mbox', 'application/octet-stream'] as const;
/**
 * What the import did: messages read from the file, filed (`imported`) and left out because the
 * same message (Message-ID and bytes) was already in its folder (`skipped`): importing a file twice adds nothing.
 */
export const accountImportResponse = z.object({ read: z.number().int().min(0), imported: z.number().int().min(0), skipped: z.number().int().min(0) });
export type AccountImportResult = z.infer<typeof accountImportResponse>;
