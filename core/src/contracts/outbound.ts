import { z } from 'zod';

/**
 * The delivery log of the user's sent mail (backend/src/routes/outbound): per recipient where it
 * stands, the attempts, the remote server's last reply and every step. Live changes arrive as
 * `delivery.status` events (events.ts).
 */

export const deliveryStatus = z.enum(['queued', 'deferred', 'delivered', 'bounced', 'expired']);
export const deliveryLogEntryDto = z.object({
  status: z.string(),
  reply: z.string().nullable(),
  remoteMta: z.string().nullable(),
  nextAttemptAt: z.string().nullable(),
  at: z.string(),
});
export type DeliveryLogEntryDto = z.infer<typeof deliveryLogEntryDto>;
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
export type DeliveryDto = z.infer<typeof deliveryDto>;
export const outboundDto = z.object({
  outboundId: z.number().int(),
  sentMessageId: z.number().int().nullable(),
  subject: z.string(),
  createdAt: z.string(),
  recipients: z.array(deliveryDto),
});
export type OutboundDto = z.infer<typeof outboundDto>;
/** Newest first; `before` is the `nextBefore` of the page before. */
export const outboundListQuery = z.object({
  before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type OutboundListQuery = z.input<typeof outboundListQuery>;
export const outboundListResponse = z.object({ outbound: z.array(outboundDto), nextBefore: z.number().int().nullable() });
export type OutboundListResponse = z.infer<typeof outboundListResponse>;
