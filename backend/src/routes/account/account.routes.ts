import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { BackendContext } from '../../context.js';

/** Routes for account: being built (see the API issue). */
export function accountRoutes(_ctx: BackendContext): FastifyPluginAsyncZod {
  return async () => undefined;
}
