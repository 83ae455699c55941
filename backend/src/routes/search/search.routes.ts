import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { BackendContext } from '../../context.js';

/** Routes for search: being built (see the API issue). */
export function searchRoutes(_ctx: BackendContext): FastifyPluginAsyncZod {
  return async () => undefined;
}
