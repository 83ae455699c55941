import { createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  AppError,
  cancelHeld,
  cleanContentType,
  cleanFilename,
  createOutboundQueue,
  createRedisEventPublisher,
  createScheduledSendQueue,
  createScheduledSendRepository,
  createUploadRepository,
  createUserRepository,
  deleteDraft,
  DRAFT_SAVES_PER_USER,
  holdMessage,
  listDrafts,
  newUploadId,
  removeFile,
  replaceDraft,
  saveDraft,
  SendRateLimitedError,
  toMessageListItemDto,
  toScheduledSendDto,
  uploadPath,
  uploadsDir,
  type DraftDeps,
  type DraftInput,
  type DraftSender,
  type HoldDeps,
  type RateLimiter,
  type SendInput,
} from '@mailyard/core';
import {
  draftBody,
  draftIdResponse,
  draftListResponse,
  errorResponses,
  idParam,
  okResponse,
  scheduledSendListResponse,
  scheduledSendSchema,
  sendBody,
  sendResponse,
  uploadIdParam,
  uploadResponse,
} from '@mailyard/core/contracts';
import type { BackendContext } from '../../context.js';
import { currentUser, requireUser } from '../../plugins/auth.plugin.js';

export interface ComposeOptions {
  /** Largest upload accepted, in bytes (413 upload.too_large beyond). */
  maxUploadBytes?: number;
  /** Largest message a user may write, uploads included (SMTP_MAX_MESSAGE_SIZE; 413 message.too_large beyond). */
  maxMessageBytes?: number;
}

export const DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024;

const writeErrors = errorResponses(400, 401, 403, 404);

/**
 * The Idempotency-Key request header (draft-ietf-httpapi-idempotency-key-header; a bare token as
 * most clients send it, or a quoted string): undefined when absent, 400 when not 1–255 visible ASCII.
 */
function idempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = (Array.isArray(header) ? header.join(',') : header).trim();
  const key = /^"(.*)"$/.exec(value)?.[1] ?? value;
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw new AppError('send.idempotency_key_invalid', 'the Idempotency-Key header must be 1 to 255 visible ASCII characters', 400);
  return key;
}

/**
 * A multipart body the parser (busboy) cannot read ("Boundary not found", "Unexpected end of
 * form") is the client's mistake: 400. Its errors are plain Errors; file-system ones carry a code.
 */
function malformedUpload(err: unknown): AppError | null {
  if (!(err instanceof Error) || 'code' in err || 'statusCode' in err) return null;
  return new AppError('upload.invalid', `malformed multipart/form-data: ${err.message}`, 400);
}
/** Saving a draft: also too large or over quota (413) and too often (429). */
const draftErrors = { ...writeErrors, ...errorResponses(413, 429) };

/** Counts a draft save: 429 'draft.rate_limited' with Retry-After beyond DRAFT_SAVES_PER_USER. */
async function countDraftSave(limiter: RateLimiter, userId: number, reply: FastifyReply): Promise<void> {
  const state = await limiter.hit(DRAFT_SAVES_PER_USER, String(userId));
  if (!state.limited) return;
  void reply.header('retry-after', String(state.retryAfterSeconds));
  throw new AppError('draft.rate_limited', `you may save at most ${DRAFT_SAVES_PER_USER.max} drafts a minute; try again in ${state.retryAfterSeconds} s`, 429);
}

/**
 * Uploads (files sent ahead of composing) and server-side drafts, so a reload never loses one.
 * Drafts: core/src/mail/drafts.ts. Uploads: core/src/repositories/upload.repository.ts and
 * core/src/storage/upload-files.ts. Sending: core/src/mail/send.ts.
 */
export function composeRoutes(ctx: BackendContext, options: ComposeOptions = {}): FastifyPluginAsyncZod {
  const maxUploadBytes = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const uploads = createUploadRepository(ctx.db, ctx.dataDir);
  const deps: DraftDeps = { db: ctx.db, events: createRedisEventPublisher(ctx.redis), log: ctx.log, dataDir: ctx.dataDir, maxMessageBytes: options.maxMessageBytes };
  // Sent mail is held (undo send, scheduled send) until a `scheduled-send` job wakes the outbound
  // worker; with an undo delay of 0 it is sent in the request, remote mail going to `outbound`.
  const outbound = createOutboundQueue(ctx.redis, { log: ctx.log });
  const scheduled = createScheduledSendQueue(ctx.redis);
  const sendDeps: HoldDeps = { ...deps, limiter: ctx.limiter, outbound, scheduled };
  const held = createScheduledSendRepository(ctx.db);

  async function sender(userId: number, address: string): Promise<DraftSender> {
    const user = await createUserRepository(ctx.db).get(userId);
    return { userId, address, name: user?.displayName ?? null };
  }

  return async (app) => {
    await app.register(multipart, { limits: { files: 1, fileSize: maxUploadBytes, fields: 10, parts: 20 } });
    app.addHook('onRequest', requireUser);
    app.addHook('onClose', async () => {
      await outbound.close();
      await scheduled.close();
    });

    // One file as multipart/form-data, streamed to disk under a random name.
    app.post('/api/uploads', { schema: { tags: ['compose'], description: 'One file as multipart/form-data; the answer is the upload id to list in a draft or message.', response: { 201: uploadResponse, ...writeErrors, ...errorResponses(413) } } }, async (req, reply) => {
      const me = currentUser(req);
      if (!req.isMultipart()) throw new AppError('upload.invalid', 'send the file as multipart/form-data', 400);
      const part = await req.file().catch((err: unknown) => {
        throw malformedUpload(err) ?? err;
      });
      if (!part) throw new AppError('upload.invalid', 'the request holds no file', 400);
      const id = newUploadId();
      const file = uploadPath(ctx.dataDir, id);
      await mkdir(uploadsDir(ctx.dataDir), { recursive: true });
      try {
        await pipeline(part.file, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
        if (part.file.truncated) throw new AppError('upload.too_large', `a file may be at most ${maxUploadBytes} bytes`, 413);
        const size = (await stat(file)).size;
        const upload = { id, userId: me.userId, filename: cleanFilename(part.filename), contentType: cleanContentType(part.mimetype), size };
        await uploads.insert(upload);
        return reply.code(201).send({ id, filename: upload.filename, contentType: upload.contentType, size });
      } catch (err) {
        await removeFile(file);
        if (err instanceof AppError) throw err;
        if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw new AppError('upload.too_large', `a file may be at most ${maxUploadBytes} bytes`, 413);
        throw malformedUpload(err) ?? err;
      }
    });

    app.delete('/api/uploads/:id', { schema: { tags: ['compose'], params: uploadIdParam, response: { 200: okResponse, ...writeErrors } } }, async (req) => {
      const me = currentUser(req);
      if (!(await uploads.delete(me.userId, req.params.id))) throw new AppError('upload.not_found', 'no such upload', 404);
      return { ok: true as const };
    });

    // 202: held until sendAt (undo send: the user's delay; scheduled send: the time asked for), or
    // with an undo delay of 0 filed into Sent and local inboxes at once (`sent`).
    app.post(
      '/api/messages/send',
      {
        schema: {
          tags: ['compose'],
          description:
            'Holds the message for the undo delay (or until sendAt), then sends it; cancel it meanwhile with /api/messages/scheduled/:id/cancel. ' +
            'With an Idempotency-Key header (1–255 visible ASCII characters, one per message), sending again with the same key (after no answer or a 5xx) ' +
            'answers the message already held (header Idempotent-Replayed: true, `sent` null) instead of sending a second copy; 422 if the key came with another message.',
          body: sendBody,
          response: { 202: sendResponse, ...writeErrors, ...errorResponses(413, 422, 429) },
        },
      },
      async (req, reply) => {
        const me = currentUser(req);
        const { sendAt, ...input } = req.body;
        const key = idempotencyKey(req.headers['idempotency-key']);
        try {
          const result = await holdMessage(sendDeps, await sender(me.userId, me.address), input as SendInput, sendAt === undefined ? undefined : new Date(sendAt), key);
          if (result.replayed) reply.header('idempotent-replayed', 'true');
          return await reply.code(202).send({ scheduledId: result.row.id, sendAt: result.row.sendAt.toISOString(), sent: result.sent });
        } catch (err) {
          if (err instanceof SendRateLimitedError) reply.header('retry-after', String(err.retryAfterSeconds));
          throw err;
        }
      },
    );

    app.get('/api/messages/scheduled', { schema: { tags: ['compose'], description: 'Messages held for sending (undo send, scheduled send), soonest first.', response: { 200: scheduledSendListResponse, ...errorResponses(401) } } }, async (req) => {
      const me = currentUser(req);
      return { scheduled: (await held.listPending(me.userId)).map(toScheduledSendDto) };
    });

    // Answers the message as composed, so the compose window can reopen it; 409 once it went.
    app.post('/api/messages/scheduled/:id/cancel', { schema: { tags: ['compose'], params: idParam, response: { 200: scheduledSendSchema, ...writeErrors, ...errorResponses(409) } } }, async (req) => {
      const me = currentUser(req);
      return toScheduledSendDto(await cancelHeld(ctx, me.userId, req.params.id));
    });

    app.get('/api/drafts', { schema: { tags: ['compose'], response: { 200: draftListResponse, ...errorResponses(401) } } }, async (req) => {
      const me = currentUser(req);
      return { drafts: (await listDrafts(ctx.db, me.userId)).map(toMessageListItemDto) };
    });

    app.post('/api/drafts', { schema: { tags: ['compose'], body: draftBody, response: { 201: draftIdResponse, ...draftErrors } } }, async (req, reply) => {
      const me = currentUser(req);
      await countDraftSave(ctx.limiter, me.userId, reply);
      const id = await saveDraft(deps, await sender(me.userId, me.address), req.body as DraftInput);
      return reply.code(201).send({ id });
    });

    // Replaces the draft: the new version is filed first, then the old one deleted; answers the new id.
    app.put('/api/drafts/:id', { schema: { tags: ['compose'], params: idParam, body: draftBody, response: { 200: draftIdResponse, ...draftErrors } } }, async (req, reply) => {
      const me = currentUser(req);
      await countDraftSave(ctx.limiter, me.userId, reply);
      return { id: await replaceDraft(deps, await sender(me.userId, me.address), req.params.id, req.body as DraftInput) };
    });

    app.delete('/api/drafts/:id', { schema: { tags: ['compose'], params: idParam, response: { 200: okResponse, ...writeErrors } } }, async (req) => {
      const me = currentUser(req);
      await deleteDraft(deps, me.userId, req.params.id);
      return { ok: true as const };
    });
  };
}
