import { z } from 'zod';
import { addressSchema, idParam, nonJsonResponse, positiveId } from './common.js';
import { messageFilterSchema, senderRuleSchema } from './filters.js';

/**
 * Messages (backend/src/routes/messages and the list of a mailbox): list items and pages, the
 * message as the reader shows it, threads, and the operations on many messages at once (the same
 * rules as IMAP: core/src/mail/message-ops.ts).
 */

/** A message in a list: what a row of the message list shows. */
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

/** A page of a list, newest first; `cursor` is the `nextCursor` of the page before. */
export const messageListQuery = z.object({
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type MessageListQuery = z.input<typeof messageListQuery>;

/** `nextCursor` is null on the last page. */
export const messageListResponse = z.object({
  messages: z.array(messageListItemSchema),
  nextCursor: z.string().nullable(),
});
export type MessageListResponse = z.infer<typeof messageListResponse>;

/** GET /api/messages/:id?remoteImages=1 loads remote images (only when the user asked). */
export const messageDetailQuery = z.object({ remoteImages: z.enum(['0', '1']).default('0') });
export type MessageDetailQuery = z.input<typeof messageDetailQuery>;

export const messageAttachmentSchema = z.object({
  index: z.number().int(),
  filename: z.string().nullable(),
  contentType: z.string(),
  size: z.number().int(),
  /** Shown inside the HTML (a cid: image) rather than as an attachment. */
  inline: z.boolean(),
  /** The download (GET /api/messages/:id/attachments/:index). */
  url: z.string(),
});
export type MessageAttachmentDto = z.infer<typeof messageAttachmentSchema>;

/** One inbound check: `pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`…, and the domain it concerns. */
export const authCheckSchema = z.object({ result: z.string(), domain: z.string().nullable() });
/** How the MX authenticated a received message; null for mail it did not check (sent mail, older mail). */
export const messageAuthenticationSchema = z
  .object({
    spf: authCheckSchema,
    dkim: authCheckSchema,
    /** `policy`: the sender's published DMARC policy (none, quarantine, reject), when it has one. */
    dmarc: authCheckSchema.extend({ policy: z.string().nullable() }),
    arc: authCheckSchema,
  })
  .nullable();
export type MessageAuthenticationDto = z.infer<typeof messageAuthenticationSchema>;

/** A message as the reader shows it. */
export const messageDetailSchema = z.object({
  id: z.number().int(),
  mailboxId: z.number().int(),
  threadId: z.number().int(),
  /** The Message-ID header. */
  messageId: z.string().nullable(),
  date: z.string(),
  from: z.array(addressSchema),
  to: z.array(addressSchema),
  cc: z.array(addressSchema),
  subject: z.string(),
  unread: z.boolean(),
  starred: z.boolean(),
  text: z.string(),
  /** Sanitized; show it in a sandboxed iframe. Null for plain-text mail. */
  html: z.string().nullable(),
  /** Remote images were left out; ask again with remoteImages=1 to have them. */
  hasRemoteContent: z.boolean(),
  /** Only the start of a very large body was rendered (text and html); the whole message is the raw download. */
  truncated: z.boolean(),
  attachments: z.array(messageAttachmentSchema),
  authentication: messageAuthenticationSchema,
  /** Why the spam filter filed it where it did (issue 11); null for mail it did not judge. */
  filter: messageFilterSchema,
});
export type MessageDetailDto = z.infer<typeof messageDetailSchema>;

/** GET /api/messages/:id/raw: the message as stored, with this server's trace headers first. */
export const messageSourceResponse = nonJsonResponse('message/rfc822', 'the message as an .eml download', { binary: true });

export const attachmentParams = idParam.extend({ index: z.coerce.number().int().min(0).max(10_000) });
export type AttachmentParams = z.input<typeof attachmentParams>;
/** GET /api/messages/:id/attachments/:index: the bytes, with the type the sender gave them. */
/** GET /api/messages/:id/attachments/:index/inline: a signed link to an inline image (core/src/mail/render/inline-image-links.ts). */
export const inlineImageQuery = z.object({
  u: z.coerce.number().int().positive(),
  e: z.coerce.number().int().positive(),
  s: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/),
});
export const attachmentContentResponse = nonJsonResponse('application/octet-stream', "the attachment's bytes as a download, typed as the sender declared", { binary: true });

export const threadResponse = z.object({ threadId: z.number().int(), messages: z.array(messageListItemSchema) });
export type ThreadResponse = z.infer<typeof threadResponse>;

/** 1 to 1000 message ids of the signed-in user; any other id makes the whole call a 404. */
export const messageIdsBody = z.object({ ids: z.array(positiveId).min(1).max(1000) });
export type MessageIdsBody = z.input<typeof messageIdsBody>;
export const messageFlagsBody = messageIdsBody
  .extend({ read: z.boolean().optional(), starred: z.boolean().optional() })
  .refine((b) => b.read !== undefined || b.starred !== undefined, { message: 'give read and/or starred' });
export type MessageFlagsBody = z.input<typeof messageFlagsBody>;
export const messageMoveBody = messageIdsBody.extend({ mailboxId: positiveId });
export type MessageMoveBody = z.input<typeof messageMoveBody>;

/** Where each message is now, and its read/starred state. */
export const messageStateSchema = z.object({ id: z.number().int(), mailboxId: z.number().int(), unread: z.boolean(), starred: z.boolean() });
export type MessageStateDto = z.infer<typeof messageStateSchema>;
export const messageOpResponse = z.object({ messages: z.array(messageStateSchema) });
export type MessageOpResponse = z.infer<typeof messageOpResponse>;
export const messageDeleteResponse = z.object({ deleted: z.number().int() });
export type MessageDeleteResponse = z.infer<typeof messageDeleteResponse>;

/**
 * POST /api/messages/:id/not-spam: moves the message to the Inbox, teaches the filter it is ham
 * (rspamd learn_ham when configured), and with `allowSender` adds its From address to the allow
 * list. Answers where the message is now and the entry added, if any.
 */
export const notSpamBody = z.object({ allowSender: z.boolean().default(false) });
export type NotSpamBody = z.input<typeof notSpamBody>;
export const notSpamResponse = z.object({ message: messageStateSchema, sender: senderRuleSchema.nullable() });
export type NotSpamResponse = z.infer<typeof notSpamResponse>;
