import { z } from 'zod';

/**
 * Events pushed to a user's live clients (SSE in the browser, IDLE in IMAP). Browser-safe:
 * this folder imports nothing but zod. `modseq` is the user's change-log position, so a client
 * that reconnects asks for everything after the last modseq it saw.
 */
export const messageNewEvent = z.object({
  type: z.literal('message.new'),
  modseq: z.number().int().nonnegative(),
  mailboxId: z.number().int().positive(),
  messageId: z.number().int().positive(),
  uid: z.number().int().positive(),
  threadId: z.number().int().positive(),
});

export const userEvent = z.discriminatedUnion('type', [messageNewEvent]);
export type UserEvent = z.infer<typeof userEvent>;

/** Redis pub/sub channel that carries one user's events. */
export function userChannel(userId: number): string {
  return `user:${userId}`;
}
