import { z } from 'zod';
import { positiveId } from './common.js';
import { messageListItemSchema } from './messages.js';

/**
 * Composing (backend/src/routes/compose): uploads sent ahead of a message, server-side drafts,
 * and sending (core/src/mail/drafts.ts, core/src/mail/send.ts).
 */

/** An upload id: 128 random bits, base64url. */
export const uploadId = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'not an upload id');
export const uploadIdParam = z.object({ id: uploadId });
export type UploadIdParam = z.input<typeof uploadIdParam>;
/** POST /api/uploads (one file as multipart/form-data). */
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
  /** Upload ids. */
  attachments: z.array(uploadId).max(100).optional(),
  /** The id of the message this draft replies to. */
  inReplyTo: positiveId.optional(),
  /** With inReplyTo: quote the original below the text. */
  quoteOriginal: z.boolean().optional(),
  /** The id of a message to forward: its text is quoted and its attachments attached. */
  forwardOf: positiveId.optional(),
});
export type DraftBody = z.input<typeof draftBody>;
export const draftIdResponse = z.object({ id: z.number().int() });
export type DraftIdResponse = z.infer<typeof draftIdResponse>;
export const draftListResponse = z.object({ drafts: z.array(messageListItemSchema) });
export type DraftListResponse = z.infer<typeof draftListResponse>;

export const sendBody = draftBody.extend({
  to: recipientList,
  /** The draft this message was written in: deleted once sent. */
  draftId: positiveId.optional(),
  /** Scheduled send: when it goes (ISO 8601, within a year). Without it the message is held for the user's undo delay. */
  sendAt: z.string().datetime({ offset: true }).optional(),
});
export type SendBody = z.input<typeof sendBody>;
/** A message that went: filed into Sent and local inboxes, remote recipients queued. */
export const sentResult = z.object({
  /** The sender's Sent copy. */
  messageId: z.number().int(),
  /** The delivery record: GET /api/outbound/:id shows where each recipient stands. */
  outboundId: z.number().int(),
  /** Remote recipients handed to the outbound worker (not delivered yet). */
  queued: z.array(z.object({ domain: z.string(), recipients: z.array(z.string()) })),
  deliveredLocally: z.array(z.string()),
});
export type SentResult = z.infer<typeof sentResult>;
/** POST /api/messages/send: the message is held until `sendAt` (cancel it meanwhile); `sent` when the undo delay is 0. */
export const sendResponse = z.object({
  scheduledId: z.number().int(),
  sendAt: z.string(),
  sent: sentResult.nullable(),
});
export type SendResponse = z.infer<typeof sendResponse>;

/** A held message (undo send, scheduled send) with the fields as composed, to reopen it in the compose window. */
export const scheduledSendSchema = z.object({
  id: z.number().int(),
  sendAt: z.string(),
  status: z.enum(['pending', 'sent', 'cancelled', 'failed']),
  /** Why it failed (a recipient that no longer exists). */
  error: z.string().nullable(),
  message: sendBody.omit({ sendAt: true }),
});
export type ScheduledSendDto = z.infer<typeof scheduledSendSchema>;
export const scheduledSendListResponse = z.object({ scheduled: z.array(scheduledSendSchema) });
export type ScheduledSendListResponse = z.infer<typeof scheduledSendListResponse>;
