import { z } from 'zod';

/** Folders (backend/src/routes/mailboxes). A mailbox's messages are listed with the shapes in messages.ts. */

export const mailboxSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  /** \Inbox, \Sent, \Drafts, \Archive, \Junk or \Trash; null for the user's own folders. */
  specialUse: z.string().nullable(),
  total: z.number().int(),
  unread: z.number().int(),
});
export type MailboxDto = z.infer<typeof mailboxSchema>;

/** GET /api/mailboxes: every folder of the user, in the order they were created (system folders first). */
export const mailboxListResponse = z.object({ mailboxes: z.array(mailboxSchema) });
export type MailboxListResponse = z.infer<typeof mailboxListResponse>;

/** Create or rename a folder. */
export const mailboxNameBody = z.object({ name: z.string().min(1).max(200) });
export type MailboxNameBody = z.input<typeof mailboxNameBody>;
export const mailboxDeleteResponse = z.object({ deletedMessages: z.number().int() });
export type MailboxDeleteResponse = z.infer<typeof mailboxDeleteResponse>;
