import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError } from '@mailyard/core';

/** A PostgreSQL data exception (SQLSTATE class 22): a value the client sent that the database refuses. */
function isDataException(err: Error): err is Error & { code: string } {
  const { code, severity } = err as { code?: unknown; severity?: unknown };
  return typeof severity === 'string' && typeof code === 'string' && code.startsWith('22');
}

/**
 * PostgreSQL or Redis out of reach (restarting, paused, a dropped connection): the request may
 * succeed when repeated, so it is a 503 with Retry-After, not a 500. Connection failures of the
 * pg driver and pool, SQLSTATE classes 08 (connection exception) and 57P (operator intervention:
 * shutdown, crash), and ioredis's closed-connection, retry and timeout errors.
 */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);
const UNAVAILABLE_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is closed|Command timed out|Reached the max retries per request limit|Stream isn't writeable)/;
export function isStoreUnavailable(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('57P'))) return true;
  return err.name === 'MaxRetriesPerRequestError' || UNAVAILABLE_MESSAGES.test(err.message);
}

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
    if (isDataException(err)) {
      // Input the schemas let through but PostgreSQL cannot take (a NUL in text, a number out of range).
      req.log.info({ event: 'http.data_exception', sqlstate: err.code, err: err.message });
      return reply.code(400).send({ error: { code: 'request.invalid', message: 'a value in the request cannot be stored (text with NUL characters, or a number out of range)' }, requestId });
    }
    const status = (err as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      const code = (err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'request.too_large' : 'request.invalid';
      return reply.code(status).send({ error: { code, message: err.message }, requestId });
    }
    if (isStoreUnavailable(err)) {
      req.log.warn({ event: 'http.store_unavailable', err: err.message });
      return reply.code(503).header('retry-after', '5').send({ error: { code: 'service.unavailable', message: 'the mail store is not reachable right now; try again in a few seconds' }, requestId });
    }
    req.log.error({ event: 'http.error', err: err.message, stack: err.stack });
    return reply.code(500).send({ error: { code: 'internal', message: 'internal error' }, requestId });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: { code: 'route.not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }, requestId: String(req.id) }));
}

/**
 * Fastify's own request errors, raised before routing (a URL that does not decode, like `%ZZ`),
 * in the same error body: give it as the `frameworkErrors` option of `Fastify()`.
 */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const status = err.statusCode ?? 400;
  const error = status < 500 ? { code: 'request.invalid', message: err.message } : { code: 'internal', message: 'internal error' };
  void reply.code(status).send({ error, requestId: String(req.id) });
}
