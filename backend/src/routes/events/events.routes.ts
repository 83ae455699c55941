import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { BackendContext } from '../../context.js';

/** Routes for events: being built (see the API issue). */
export function eventsRoutes(_ctx: BackendContext): FastifyPluginAsyncZod {
  return async () => undefined;
}
