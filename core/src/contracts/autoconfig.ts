import { z } from 'zod';

/**
 * Mail client autoconfiguration (Thunderbird's config-v1.1.xml, Outlook's autodiscover.xml): the
 * address the client asks about. The answers are XML documents, not JSON.
 */

export const autoconfigQuery = z.object({
  emailaddress: z.string().min(1).max(320).describe('the address the client is being set up for'),
});
export type AutoconfigQuery = z.input<typeof autoconfigQuery>;
