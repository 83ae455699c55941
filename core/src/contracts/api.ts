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
