import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError, createRedisEventPublisher, importMessages, mboxImportItems, tryRedisLock, type ImportProgress } from '@mailyard/core';
import { accountImportBody, accountImportContentTypes, accountImportQuery, accountImportResponse, errorResponses } from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

/**
 * The signed-in user uploads an mbox file into their own mailboxes (core/src/mail/transfer/import.ts,
 * through the mailbox writer: quotas, threading and the live feed apply). The body is read as it
 * arrives, one message at a time and filed in batches, so memory stays small whatever the file's
 * size; nothing is written to disk on the way.
 *
 * Limits: IMPORT_MAX_BYTES (413 'import.too_large', from Content-Length before anything is read, or
 * when a body without one goes past it); one import per user at a time, across replicas (a Redis
 * lock; 409 'import.in_progress'). A stop part-way (quota reached, too large, the client gone)
 * keeps the batches filed before it, whole messages only; importing the file again adds just the
 * rest, since messages already there are skipped.
 */

export interface AccountImportOptions {
  /** IMPORT_MAX_BYTES; default 1 GiB. */
  maxBytes?: number;
}

export const DEFAULT_IMPORT_MAX_BYTES = 1024 * 1024 * 1024;
/** The lock outlives a dead holder by at most this long; a live one renews it. */
const LOCK_TTL_MS = 60_000;
const importLockKey = (userId: number) => `import:lock:${userId}`;

/**
 * The body's chunks, refused with `tooLarge` once more than `maxBytes` have come. Stopping early
 * leaves the request stream as it is (not destroyed), for the error answer to go out on it.
 */
async function* limitBytes(body: Readable, maxBytes: number, tooLarge: () => AppError): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw tooLarge();
    yield chunk;
  }
}

export function accountImportRoutes(ctx: BackendContext, options: AccountImportOptions = {}): FastifyPluginAsyncZod {
  const maxBytes = options.maxBytes ?? DEFAULT_IMPORT_MAX_BYTES;
  const deps = { db: ctx.db, events: createRedisEventPublisher(ctx.redis) };
  const tooLarge = () => new AppError('import.too_large', `an imported file may be at most ${maxBytes} bytes`, 413);

  return async (app) => {
    app.addHook('onRequest', requireUser);
    // The body stays a stream (in this plugin only): the handler reads it.
    app.addContentTypeParser([...accountImportContentTypes], (_req, payload, done) => done(null, payload));
    // An answer given before the whole body came (refused, stopped) closes the connection after it,
    // rather than Node reading and throwing away what is left of a file of up to IMPORT_MAX_BYTES.
    app.addHook('onError', async (req, reply) => {
      if (req.body instanceof Readable && !req.body.readableEnded) void reply.header('connection', 'close');
    });

    app.post(
      '/api/account/import',
      {
        schema: {
          tags: ['account'],
          description: 'An mbox file as the request body; answers what was filed and what was already there.',
          consumes: [...accountImportContentTypes],
          querystring: accountImportQuery,
          body: accountImportBody,
          response: { 200: accountImportResponse, ...errorResponses(400, 401, 409, 413) },
        },
      },
      async (req) => {
        const me = currentUser(req);
        const body = req.body;
        if (!(body instanceof Readable)) throw new AppError('import.invalid', `send the mbox file as the request body, as ${accountImportContentTypes.join(' or ')}`, 400);
        if (Number(req.headers['content-length']) > maxBytes) throw tooLarge();
        const lock = await tryRedisLock(ctx.redis, importLockKey(me.userId), LOCK_TTL_MS, { renew: true });
        if (!lock) throw new AppError('import.in_progress', 'an import into your mailbox is already running; wait until it has finished', 409);
        let progress: ImportProgress = { read: 0, imported: 0, skipped: 0 };
        try {
          progress = await importMessages(deps, me.userId, mboxImportItems(limitBytes(body, maxBytes, tooLarge)), {
            mailbox: req.query.mailbox,
            onProgress: (p) => (progress = p),
          });
          req.log.info({ event: 'import.done', ...progress });
          return progress;
        } catch (err) {
          req.log.warn({ event: 'import.stopped', imported: progress.imported, skipped: progress.skipped, code: err instanceof AppError ? err.code : undefined, err: (err as Error).message });
          if (err instanceof AppError && err.code === 'quota.exceeded') {
            throw new AppError('quota.exceeded', `${err.message}. Messages imported before that stay (${progress.imported}); importing the file again adds only the rest`, 413);
          }
          throw err;
        } finally {
          await lock.release();
        }
      },
    );
  };
}
