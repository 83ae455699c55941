import { z } from 'zod';
import { positiveId, role } from './common.js';
import { deliveryStatus } from './outbound.js';

/**
 * The admin API (backend/src/routes/admin). Who may do what is decided in
 * core/src/accounts/admin-scope.ts: admins everything, domain-admins their own domains.
 */

export const adminDomainSchema = z.object({ id: z.number().int(), name: z.string(), createdAt: z.string() });
export type AdminDomainDto = z.infer<typeof adminDomainSchema>;
export const adminDomainListResponse = z.object({ domains: z.array(adminDomainSchema) });
export type AdminDomainListResponse = z.infer<typeof adminDomainListResponse>;
export const adminDomainBody = z.object({ name: z.string().trim().min(1).max(253) });
export type AdminDomainBody = z.input<typeof adminDomainBody>;
export const adminDomainParam = z.object({ name: z.string().min(1).max(253) });

/**
 * PATCH /api/admin/domains/:name (admins only): relax the inbound checks for a domain. `dmarcReject`:
 * what a DMARC `p=reject` failure sent to this domain gets (refused, Junk, or delivered);
 * `ownDomainSpoofing`: what mail claiming to be From this domain that fails the checks gets;
 * `greylisting`: whether first attempts to this domain from unknown senders get 451 4.7.1.
 */
export const adminDomainTrustPolicySchema = z.object({
  dmarcReject: z.enum(['enforce', 'quarantine', 'ignore']),
  ownDomainSpoofing: z.enum(['reject', 'quarantine', 'ignore']),
  greylisting: z.enum(['on', 'off']),
});
export type AdminDomainTrustPolicyDto = z.infer<typeof adminDomainTrustPolicySchema>;
export const adminDomainPatchBody = adminDomainTrustPolicySchema.partial().refine((b) => Object.keys(b).length > 0, { message: 'give dmarcReject, ownDomainSpoofing and/or greylisting' });
export type AdminDomainPatchBody = z.input<typeof adminDomainPatchBody>;
export const adminDomainPatchResponse = adminDomainSchema.extend({ trustPolicy: adminDomainTrustPolicySchema });
export type AdminDomainPatchResponse = z.infer<typeof adminDomainPatchResponse>;

/** A DNS record the domain should publish. */
export const adminDnsRecordSchema = z.object({
  type: z.enum(['MX', 'TXT']),
  name: z.string(),
  value: z.string(),
  purpose: z.enum(['mx', 'spf', 'dkim', 'dmarc', 'mta-sts']),
  priority: z.number().int().optional(),
});
export type AdminDnsRecordDto = z.infer<typeof adminDnsRecordSchema>;
/** POST /api/admin/domains/:name/dkim/rotate: the new selector and the record to publish for it. */
export const adminDkimRotateResponse = z.object({ selector: z.string(), dnsRecord: adminDnsRecordSchema });
export type AdminDkimRotateResponse = z.infer<typeof adminDkimRotateResponse>;
/** A record as the live DNS check found it: `found` is what the DNS answered. */
export const adminDnsCheckedRecordSchema = adminDnsRecordSchema.extend({ ok: z.boolean(), found: z.array(z.string()), error: z.string().optional() });
export type AdminDnsCheckedRecordDto = z.infer<typeof adminDnsCheckedRecordSchema>;
export const adminDnsResponse = z.object({ records: z.array(adminDnsCheckedRecordSchema) });
export type AdminDnsResponse = z.infer<typeof adminDnsResponse>;

export const adminUserSchema = z.object({
  id: z.number().int(),
  address: z.string(),
  domain: z.string(),
  role,
  displayName: z.string().nullable(),
  disabled: z.boolean(),
  quotaBytes: z.number().int().nullable(),
  /** Bytes of mail stored (what counts against the quota). */
  usedBytes: z.number().int(),
  totpEnabled: z.boolean(),
  createdAt: z.string(),
});
export type AdminUserDto = z.infer<typeof adminUserSchema>;
export const adminUserListResponse = z.object({ users: z.array(adminUserSchema) });
export type AdminUserListResponse = z.infer<typeof adminUserListResponse>;
export const adminUsersQuery = z.object({ domain: z.string().min(1).max(253).optional() });
export type AdminUsersQuery = z.input<typeof adminUsersQuery>;
export const adminUserCreateBody = z.object({
  address: z.string().min(3).max(320),
  password: z.string().min(1).max(1024),
  role: role.optional(),
});
export type AdminUserCreateBody = z.input<typeof adminUserCreateBody>;
/** Disabling a user or resetting their password ends all their sessions. quotaBytes null: no quota. */
export const adminUserPatchBody = z
  .object({
    role: role.optional(),
    disabled: z.boolean().optional(),
    quotaBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
    password: z.string().min(1).max(1024).optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), { message: 'nothing to change' });
export type AdminUserPatchBody = z.input<typeof adminUserPatchBody>;

/**
 * `address` is local@domain, or @domain for the domain's catch-all. An alias delivers to its
 * target; `allowSend` also lets the target send as it (any address of the domain, for a
 * catch-all). Only a server admin may set `allowSend` (403 for a domain-admin).
 */
export const adminAliasSchema = z.object({ id: z.number().int(), address: z.string(), targetUserId: z.number().int(), targetAddress: z.string(), allowSend: z.boolean() });
export type AdminAliasDto = z.infer<typeof adminAliasSchema>;
export const adminAliasListResponse = z.object({ aliases: z.array(adminAliasSchema) });
export type AdminAliasListResponse = z.infer<typeof adminAliasListResponse>;
export const adminAliasBody = z.object({ address: z.string().min(3).max(320), target: z.string().min(3).max(320), allowSend: z.boolean().default(false) });
export type AdminAliasBody = z.input<typeof adminAliasBody>;
export const adminAliasParam = z.object({ address: z.string().min(3).max(320) });

/** Grant or revoke a domain-admin (admins only). */
export const adminDomainAdminBody = z.object({ userId: positiveId, domain: z.string().min(1).max(253) });
export type AdminDomainAdminBody = z.input<typeof adminDomainAdminBody>;

/**
 * Newest first; `before` is the `nextBefore` of the page before. Filters: `action` is an action
 * or a prefix of one at a dot (`admin.user` matches `admin.user.create`), `actor` the actor's
 * address (any case), `since`/`until` a time range (ISO 8601, `until` exclusive).
 */
export const adminAuditQuery = z.object({
  before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  action: z.string().trim().min(1).max(100).optional(),
  actor: z.string().trim().min(1).max(320).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
});
export type AdminAuditQuery = z.input<typeof adminAuditQuery>;
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
export type AdminAuditEntryDto = z.infer<typeof adminAuditEntrySchema>;
export const adminAuditListResponse = z.object({ entries: z.array(adminAuditEntrySchema), nextBefore: z.number().int().nullable() });
export type AdminAuditListResponse = z.infer<typeof adminAuditListResponse>;

/**
 * The outbound queue (GET /api/admin/outbound): recipients still waiting, oldest first. Admins see every sender's; domain-admins those of senders in their domains. `status`
 * narrows to queued (never tried yet) or deferred (tried, the remote said "later").
 */
export const adminOutboundQuery = z.object({
  status: z.enum(['queued', 'deferred']).optional(),
  /** The `nextAfter` of the page before. */
  after: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type AdminOutboundQuery = z.input<typeof adminOutboundQuery>;
export const adminQueuedDeliverySchema = z.object({
  id: z.number().int(),
  outboundId: z.number().int(),
  sender: z.string(),
  recipient: z.string(),
  subject: z.string(),
  status: deliveryStatus,
  attempts: z.number().int(),
  lastReply: z.string().nullable(),
  remoteMta: z.string().nullable(),
  nextAttemptAt: z.string(),
  /** A worker is talking to the remote server right now: retry and cancel wait until it is done. */
  inProgress: z.boolean(),
  createdAt: z.string(),
});
export type AdminQueuedDeliveryDto = z.infer<typeof adminQueuedDeliverySchema>;
export const adminOutboundListResponse = z.object({ deliveries: z.array(adminQueuedDeliverySchema), nextAfter: z.number().int().nullable() });
export type AdminOutboundListResponse = z.infer<typeof adminOutboundListResponse>;

/**
 * The dashboard (GET /api/admin/stats), over the actor's domains: messages filed into mailboxes
 * (`received`, one per recipient) and messages sent (`sent`) per hour for the last 24 hours,
 * oldest first; the queue now; what became of deliveries in the last 24 hours; and storage: the
 * bytes of mail the users store (what counts against quotas) and the largest users.
 */
export const adminStatsResponse = z.object({
  hours: z.array(z.object({ hour: z.string(), received: z.number().int(), sent: z.number().int() })),
  queue: z.object({ queued: z.number().int(), deferred: z.number().int() }),
  outcomes: z.object({ delivered: z.number().int(), deferred: z.number().int(), bounced: z.number().int(), expired: z.number().int() }),
  storage: z.object({
    usedBytes: z.number().int(),
    users: z.number().int(),
    top: z.array(z.object({ id: z.number().int(), address: z.string(), usedBytes: z.number().int(), quotaBytes: z.number().int().nullable() })),
  }),
});
export type AdminStatsResponse = z.infer<typeof adminStatsResponse>;
