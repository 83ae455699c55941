import { z } from 'zod';
import { messageListResponse } from './messages.js';

/** Search and contact suggestions (backend/src/routes/search; syntax: core/src/mail/search-query.ts). */

/** `q` is Gmail-like (from: to: subject: has:attachment is:unread in: before: after: -term); errors are `search.invalid`. */
export const searchQuery = z.object({
  q: z.string().max(2000).default(''),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type SearchQuery = z.input<typeof searchQuery>;
export const searchResponse = messageListResponse;
export type SearchResponse = z.infer<typeof searchResponse>;

/** Someone the user wrote to or heard from. */
export const contactSchema = z.object({ address: z.string(), name: z.string(), sentCount: z.number().int(), receivedCount: z.number().int() });
export type ContactDto = z.infer<typeof contactSchema>;
export const contactsQuery = z.object({
  q: z.string().max(320).default(''),
  limit: z.coerce.number().int().min(1).max(50).default(10),
});
export type ContactsQuery = z.input<typeof contactsQuery>;
export const contactsResponse = z.object({ contacts: z.array(contactSchema) });
export type ContactsResponse = z.infer<typeof contactsResponse>;
