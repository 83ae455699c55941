import { z } from 'zod';

/**
 * Small shapes shared by several areas of the HTTP API: ids, addresses, roles, the `{ ok: true }`
 * and empty (204) answers, and the description of a body that is not JSON. Browser-safe: zod only.
 */

/** A database id as the API takes it in a JSON body. */
export const positiveId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** `/:id` path parameters (strings in the URL, numbers to the handler). */
export const idParam = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });
export type IdParam = z.input<typeof idParam>;

export const role = z.enum(['admin', 'domain-admin', 'user']);

/** A mailbox as written in a header: display name ('' when none) and address. */
export const addressSchema = z.object({ name: z.string(), address: z.string() });
export type AddressDto = z.infer<typeof addressSchema>;

/** The answer of a change that has nothing else to say. */
export const okResponse = z.object({ ok: z.literal(true) });
export type OkResponse = z.infer<typeof okResponse>;

/** 204: done, no body. */
export const noContent = z.undefined().describe('done; no body');

/**
 * A response whose body is not JSON: a download (`binary`) or a text stream. It only documents the
 * answer (OpenAPI: a string of `contentType`); the handler sends the bytes itself, unserialized,
 * so the schema accepts any value.
 */
export function nonJsonResponse(contentType: string, description: string, options: { binary?: boolean } = {}) {
  const schema = z.unknown().meta({ type: 'string', ...(options.binary ? { format: 'binary' } : {}), description });
  return { description, content: { [contentType]: { schema } } };
}
