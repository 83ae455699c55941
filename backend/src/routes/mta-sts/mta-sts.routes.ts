import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError, createDomainRepository } from '@mailyard/core';
import { errorResponses, nonJsonResponse } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';

/**
 * MTA-STS (RFC 8461): GET /.well-known/mta-sts.txt on host `mta-sts.<domain>`, for a domain served
 * here, answers the policy senders apply to mail for that domain: TLS to MAIL_HOSTNAME (the MX the
 * DNS helper recommends). Other hosts get 404. The `_mta-sts.<domain>` TXT record the DNS helper
 * recommends (`v=STSv1; id=<the domain's creation date>`) announces it; its id must change when
 * MTA_STS_MODE or MTA_STS_MAX_AGE changes.
 */

export interface MtaStsSettings {
  /** MTA_STS_MODE. */
  mode: 'testing' | 'enforce' | 'none';
  /** MTA_STS_MAX_AGE in seconds. */
  maxAgeSeconds: number;
}

const HOST_PREFIX = 'mta-sts.';

export function mtaStsPolicy(mailHostname: string, settings: MtaStsSettings): string {
  const mx = mailHostname.trim().toLowerCase().replace(/\.$/, '');
  return `version: STSv1\r\nmode: ${settings.mode}\r\nmx: ${mx}\r\nmax_age: ${settings.maxAgeSeconds}\r\n`;
}

export function mtaStsRoutes(ctx: Pick<BackendContext, 'db' | 'mailHostname'>, settings: MtaStsSettings): FastifyPluginAsyncZod {
  const domains = createDomainRepository(ctx.db);
  return async (app) => {
    app.get(
      '/.well-known/mta-sts.txt',
      { schema: { tags: ['autoconfig'], response: { 200: nonJsonResponse('text/plain', 'The MTA-STS policy (RFC 8461) of the domain named by the host mta-sts.<domain>'), ...errorResponses(404) } } },
      async (req, reply) => {
        const host = req.hostname.toLowerCase().replace(/\.$/, '');
        const domain = host.startsWith(HOST_PREFIX) ? host.slice(HOST_PREFIX.length) : '';
        if (!domain || !(await domains.findByName(domain))) throw new AppError('domain.not_found', `no MTA-STS policy for ${host || 'this host'}`, 404);
        return reply.type('text/plain; charset=utf-8').send(mtaStsPolicy(ctx.mailHostname, settings));
      },
    );
  };
}
