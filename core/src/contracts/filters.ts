import { z } from 'zod';

/**
 * Spam filtering as the user sees it (issue 11): why a message was filed where it is, the user's
 * allow and block lists of senders, and "not spam". The decision is made once, when the MX
 * receives the message (core/src/mail/spam/), stored with the message, and returned by
 * GET /api/messages/:id as `filter`.
 */

/**
 * One check that spoke about a message, with what it contributed to the score.
 * `check`: 'spf' | 'dkim' | 'dmarc' | 'arc' | 'dnsbl' | 'rdns' | 'rspamd' | 'rule' | 'sender-list' | …
 * `result`: what it found ('fail', 'listed', 'spam', 'blocked'…); `score`: points added (negative
 * for good signs); `detail`: a sentence for the user ("listed on zen.example.org"), or null.
 */
export const filterCheckSchema = z.object({
  check: z.string(),
  result: z.string(),
  score: z.number(),
  detail: z.string().nullable(),
});
export type FilterCheckDto = z.infer<typeof filterCheckSchema>;

/**
 * The filter's decision for a received message; null for mail it did not judge (sent mail, mail
 * received before filtering, imports).
 * - `verdict`: where the filter filed it.
 * - `score` against `junkThreshold` (Junk at or above) and `rejectThreshold` (refused at DATA at
 *   or above; such mail is never stored, so it is only seen in logs).
 * - `engine`: rspamd when RSPAMD_URL is set and answered, else the built-in rules.
 * - `override`: the user's allow or block list decided, whatever the score.
 * - `reason`: one sentence that sums it up, or null when it went to the Inbox plainly.
 */
export const messageFilterSchema = z
  .object({
    verdict: z.enum(['inbox', 'junk']),
    score: z.number(),
    junkThreshold: z.number(),
    rejectThreshold: z.number(),
    engine: z.enum(['rspamd', 'builtin']),
    override: z.enum(['allow', 'block']).nullable(),
    reason: z.string().nullable(),
    checks: z.array(filterCheckSchema),
  })
  .nullable();
export type MessageFilterDto = z.infer<typeof messageFilterSchema>;

/**
 * An entry of a user's sender lists: an address (`ann@example.com`) or a whole domain
 * (`example.com`, which covers its subdomains too). `allow` files into the Inbox and skips
 * greylisting; `block` files into Junk.
 */
export const senderRuleSchema = z.object({
  id: z.number().int(),
  kind: z.enum(['allow', 'block']),
  pattern: z.string(),
  createdAt: z.string(),
});
export type SenderRuleDto = z.infer<typeof senderRuleSchema>;

/** GET /api/filters/senders: the signed-in user's lists, newest first. */
export const senderRulesResponse = z.object({ senders: z.array(senderRuleSchema) });
export type SenderRulesResponse = z.infer<typeof senderRulesResponse>;

/**
 * POST /api/filters/senders: adds (or, for a pattern already listed, switches the kind of) an
 * entry. `pattern` is an address or a domain; it is stored lower case. 400 validation.failed for
 * anything else.
 */
export const senderRuleBody = z.object({
  kind: z.enum(['allow', 'block']),
  pattern: z.string().trim().min(1).max(320),
});
export type SenderRuleBody = z.input<typeof senderRuleBody>;
export const senderRuleResponse = z.object({ sender: senderRuleSchema });
export type SenderRuleResponse = z.infer<typeof senderRuleResponse>;
/** DELETE /api/filters/senders/:id → 204; 404 when it is not the user's. */
