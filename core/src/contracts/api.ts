import { z } from 'zod';

/**
 * HTTP API request and response shapes, shared by the backend (validation, serialization,
 * OpenAPI) and the webmail (typed client). Browser-safe: zod only.
 */

export const errorResponse = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
  requestId: z.string(),
});
export type ErrorResponse = z.infer<typeof errorResponse>;

export const role = z.enum(['admin', 'domain-admin', 'user']);

export const loginBody = z.object({
  address: z.string().min(3).max(320),
  password: z.string().min(1).max(1024),
});

export const meResponse = z.object({
  id: z.number().int(),
  address: z.string(),
  role,
  csrfToken: z.string(),
});
export type Me = z.infer<typeof meResponse>;

export const addressSchema = z.object({ name: z.string(), address: z.string() });

export const mailboxSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  specialUse: z.string().nullable(),
  total: z.number().int(),
  unread: z.number().int(),
});
export type MailboxDto = z.infer<typeof mailboxSchema>;

export const messageListItemSchema = z.object({
  id: z.number().int(),
  mailboxId: z.number().int(),
  threadId: z.number().int(),
  date: z.string(),
  from: z.array(addressSchema),
  to: z.array(addressSchema),
  subject: z.string(),
  snippet: z.string(),
  unread: z.boolean(),
  starred: z.boolean(),
  hasAttachments: z.boolean(),
  size: z.number().int(),
});
export type MessageListItemDto = z.infer<typeof messageListItemSchema>;

export const messageListQuery = z.object({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const messageListResponse = z.object({
  messages: z.array(messageListItemSchema),
  nextCursor: z.string().nullable(),
});

export const idParam = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });

// --- Account security: password change, TOTP second factor, app passwords ---

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
export const totpCodeBody = z.object({ code: totpCode });

export const changePasswordBody = z.object({
  currentPassword: z.string().min(1).max(1024),
  /** Length rules are core's passwordProblem (answered as password.invalid). */
  newPassword: z.string().max(4096),
});

export const totpStatusResponse = z.object({ enabled: z.boolean(), pendingSetup: z.boolean() });
export const totpSetupResponse = z.object({ secret: z.string(), otpauthUrl: z.string() });
export const totpDisableBody = z.object({ password: z.string().min(1).max(1024), code: totpCode });

export const appPasswordSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
});
export type AppPasswordDto = z.infer<typeof appPasswordSchema>;
export const appPasswordListResponse = z.object({ appPasswords: z.array(appPasswordSchema) });
export const appPasswordCreateBody = z.object({ name: z.string().trim().min(1).max(100) });
/** The only time the password itself is shown. */
export const appPasswordCreatedResponse = z.object({ id: z.number().int(), name: z.string(), password: z.string() });

// --- Message and mailbox operations (shared semantics with IMAP: core/src/mail/message-ops.ts) ---

const positiveId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** 1 to 1000 message ids of the signed-in user; any other id makes the whole call a 404. */
export const messageIdsBody = z.object({ ids: z.array(positiveId).min(1).max(1000) });
export const messageFlagsBody = messageIdsBody
  .extend({ read: z.boolean().optional(), starred: z.boolean().optional() })
  .refine((b) => b.read !== undefined || b.starred !== undefined, { message: 'give read and/or starred' });
export const messageMoveBody = messageIdsBody.extend({ mailboxId: positiveId });

/** Where each message is now, and its read/starred state. */
export const messageStateSchema = z.object({ id: z.number().int(), mailboxId: z.number().int(), unread: z.boolean(), starred: z.boolean() });
export const messageOpResponse = z.object({ messages: z.array(messageStateSchema) });
export type MessageOpResponse = z.infer<typeof messageOpResponse>;
export const messageDeleteResponse = z.object({ deleted: z.number().int() });

export const mailboxNameBody = z.object({ name: z.string().min(1).max(200) });
export const mailboxDeleteResponse = z.object({ deletedMessages: z.number().int() });

export const threadResponse = z.object({ threadId: z.number().int(), messages: z.array(messageListItemSchema) });
export type ThreadResponse = z.infer<typeof threadResponse>;
export const attachmentParams = idParam.extend({ index: z.coerce.number().int().min(0).max(10_000) });

// --- Search and contacts (syntax: core/src/mail/search-query.ts) ---

/** `q` is Gmail-like (from: to: subject: has:attachment is:unread in: before: after: -term); errors are `search.invalid`. */
export const searchQuery = z.object({
  q: z.string().max(2000).default(''),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export const searchResponse = messageListResponse;

export const contactSchema = z.object({ address: z.string(), name: z.string(), sentCount: z.number().int(), receivedCount: z.number().int() });
export type ContactDto = z.infer<typeof contactSchema>;
export const contactsQuery = z.object({
  q: z.string().max(320).default(''),
  limit: z.coerce.number().int().min(1).max(50).default(10),
});
export const contactsResponse = z.object({ contacts: z.array(contactSchema) });

// --- Admin API (backend/src/routes/admin): who may do what is in core/src/accounts/admin-scope.ts ---

export const adminOkResponse = z.object({ ok: z.literal(true) });
export const adminDomainSchema = z.object({ id: z.number().int(), name: z.string(), createdAt: z.string() });
export const adminDomainListResponse = z.object({ domains: z.array(adminDomainSchema) });
export const adminDomainBody = z.object({ name: z.string().trim().min(1).max(253) });
export const adminDomainParam = z.object({ name: z.string().min(1).max(253) });
export const adminDnsRecordSchema = z.object({
  type: z.enum(['MX', 'TXT']),
  name: z.string(),
  value: z.string(),
  purpose: z.enum(['mx', 'spf', 'dkim', 'dmarc', 'mta-sts']),
  priority: z.number().int().optional(),
});
export const adminDkimRotateResponse = z.object({ selector: z.string(), dnsRecord: adminDnsRecordSchema });
export const adminDnsCheckedRecordSchema = adminDnsRecordSchema.extend({ ok: z.boolean(), found: z.array(z.string()), error: z.string().optional() });
export const adminDnsResponse = z.object({ records: z.array(adminDnsCheckedRecordSchema) });

export const adminUserSchema = z.object({
  id: z.number().int(),
  address: z.string(),
  domain: z.string(),
  role,
  displayName: z.string().nullable(),
  disabled: z.boolean(),
  quotaBytes: z.number().int().nullable(),
  totpEnabled: z.boolean(),
  createdAt: z.string(),
});
export type AdminUserDto = z.infer<typeof adminUserSchema>;
export const adminUserListResponse = z.object({ users: z.array(adminUserSchema) });
export const adminUsersQuery = z.object({ domain: z.string().min(1).max(253).optional() });
export const adminUserCreateBody = z.object({
  address: z.string().min(3).max(320),
  password: z.string().min(1).max(1024),
  role: role.optional(),
});
/** Disabling a user or resetting their password ends all their sessions. quotaBytes null: no quota. */
export const adminUserPatchBody = z
  .object({
    role: role.optional(),
    disabled: z.boolean().optional(),
    quotaBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
    password: z.string().min(1).max(1024).optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), { message: 'nothing to change' });

export const adminAliasSchema = z.object({ id: z.number().int(), address: z.string(), targetUserId: z.number().int(), targetAddress: z.string() });
export const adminAliasListResponse = z.object({ aliases: z.array(adminAliasSchema) });
export const adminAliasBody = z.object({ address: z.string().min(3).max(320), target: z.string().min(3).max(320) });
export const adminAliasParam = z.object({ address: z.string().min(3).max(320) });

export const adminDomainAdminBody = z.object({ userId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER), domain: z.string().min(1).max(253) });

export const adminAuditQuery = z.object({
  before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export const adminAuditEntrySchema = z.object({
  id: z.number().int(),
  at: z.string(),
  actorUserId: z.number().int().nullable(),
  actorAddress: z.string().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  ip: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
export const adminAuditListResponse = z.object({ entries: z.array(adminAuditEntrySchema), nextBefore: z.number().int().nullable() });

// --- Drafts and uploads (core/src/mail/drafts.ts) ---

/** An upload id: 128 random bits, base64url. */
export const uploadId = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'not an upload id');
export const uploadIdParam = z.object({ id: uploadId });
export const uploadResponse = z.object({ id: z.string(), filename: z.string(), contentType: z.string(), size: z.number().int() });
export type UploadDto = z.infer<typeof uploadResponse>;

/** Recipients as typed: `addr@domain` or `Name <addr@domain>` (each checked; 400 draft.invalid_address names a bad one). */
const recipientList = z.array(z.string().min(1).max(400)).max(500);
export const draftBody = z.object({
  to: recipientList.optional(),
  cc: recipientList.optional(),
  bcc: recipientList.optional(),
  subject: z.string().max(2000).optional(),
  text: z.string().max(5_000_000).optional(),
  html: z.string().max(5_000_000).optional(),
  attachments: z.array(uploadId).max(100).optional(),
  /** The id of the message this draft replies to. */
  inReplyTo: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  /** With inReplyTo: quote the original below the text. */
  quoteOriginal: z.boolean().optional(),
  /** The id of a message to forward: its text is quoted and its attachments attached. */
  forwardOf: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});
export type DraftBody = z.infer<typeof draftBody>;
export const draftIdResponse = z.object({ id: z.number().int() });
export const draftListResponse = z.object({ drafts: z.array(messageListItemSchema) });
export const composeOkResponse = z.object({ ok: z.literal(true) });

// --- Sending (core/src/mail/send.ts) ---

export const sendBody = draftBody.extend({
  to: recipientList,
  /** The draft this message was written in: deleted once sent. */
  draftId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});
export type SendBody = z.infer<typeof sendBody>;
export const sendResponse = z.object({
  /** The sender's Sent copy. */
  messageId: z.number().int(),
  /** The delivery record: GET /api/outbound/:id shows where each recipient stands. */
  outboundId: z.number().int(),
  /** Remote recipients handed to the outbound worker (not delivered yet). */
  queued: z.array(z.object({ domain: z.string(), recipients: z.array(z.string()) })),
  deliveredLocally: z.array(z.string()),
});

// --- Delivery log (core/src/mail/outbound.ts) ---

export const deliveryStatus = z.enum(['queued', 'deferred', 'delivered', 'bounced', 'expired']);
export const deliveryLogEntryDto = z.object({
  status: z.string(),
  reply: z.string().nullable(),
  remoteMta: z.string().nullable(),
  nextAttemptAt: z.string().nullable(),
  at: z.string(),
});
export const deliveryDto = z.object({
  recipient: z.string(),
  status: deliveryStatus,
  attempts: z.number().int(),
  lastReply: z.string().nullable(),
  remoteMta: z.string().nullable(),
  nextAttemptAt: z.string().nullable(),
  updatedAt: z.string(),
  log: z.array(deliveryLogEntryDto),
});
export const outboundDto = z.object({
  outboundId: z.number().int(),
  sentMessageId: z.number().int().nullable(),
  subject: z.string(),
  createdAt: z.string(),
  recipients: z.array(deliveryDto),
});
export type OutboundDto = z.infer<typeof outboundDto>;
export const outboundListQuery = z.object({
  before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export const outboundListResponse = z.object({ outbound: z.array(outboundDto), nextBefore: z.number().int().nullable() });
