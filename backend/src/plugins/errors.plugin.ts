import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError } from '@mailyard/core';

/** Every error leaves as `{ error: { code, message }, requestId }` with the right status. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | AppError | Error, req, reply) => {
    const requestId = String(req.id);
    if (err instanceof AppError) {
      return reply.code(err.status).send({ error: { code: err.code, message: err.message }, requestId });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const first = err.validation[0];
      const where = first?.instancePath ? `${err.validationContext ?? 'request'}${first.instancePath.replace(/\//g, '.')}` : (err.validationContext ?? 'request');
      return reply.code(400).send({ error: { code: 'request.invalid', message: `${where}: ${first?.message ?? 'invalid'}` }, requestId });
    }
    const status = (err as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      const code = (err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'request.too_large' : 'request.invalid';
      return reply.code(status).send({ error: { code, message: err.message }, requestId });
    }
    req.log.error({ event: 'http.error', err: err.message, stack: err.stack });
    return reply.code(500).send({ error: { code: 'internal', message: 'internal error' }, requestId });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: { code: 'route.not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }, requestId: String(req.id) }));
}
