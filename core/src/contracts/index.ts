/**
 * `@mailyard/core/contracts`: every request and response shape of the HTTP API, the live events
 * and the error codes, as zod schemas with their TypeScript types. The backend builds its route
 * schemas (and so the OpenAPI document at /api/docs) from these; the webmail imports them for its
 * typed client. Browser-safe: these files import zod and each other, nothing else
 * (contracts.test.ts checks). Request types are the schemas' input (`z.input`: what a client
 * sends), response types their output.
 */
export * from './common.js';
export * from './errors.js';
export * from './auth.js';
export * from './account.js';
export * from './mailboxes.js';
export * from './messages.js';
export * from './search.js';
export * from './compose.js';
export * from './outbound.js';
export * from './admin.js';
export * from './events.js';
export * from './health.js';
export * from './autoconfig.js';
export * from './filters.js';
