import type { Db } from '../db/client.js';
import { AppError } from '../errors.js';
import { createBlobRepository } from '../repositories/blob.repository.js';
import { createMessageRepository, type MessageDetail } from '../repositories/message.repository.js';
import type { MessageAttachment } from './render.js';
import { sharedMessageRenderer } from './render/renderer.js';

/**
 * A stored message's content, always loaded through its owner: the bytes as this server serves
 * them (IMAP FETCH BODY[], the API's .eml download) and one attachment (the API's download). A
 * message that is not the user's is a 404 `message.not_found`, exactly like one that does not exist.
 */

export interface StoredMessage {
  message: MessageDetail;
  /** The message as received, without this server's trace headers. */
  blob: Buffer;
}

/** The user's message and its stored blob. */
export async function loadStoredMessage(db: Db, userId: number, messageId: number): Promise<StoredMessage> {
  const message = await createMessageRepository(db).get(userId, messageId);
  if (!message) throw new AppError('message.not_found', 'no such message', 404);
  const blob = await createBlobRepository(db).get(message.blobHash);
  if (!blob) throw new AppError('message.unavailable', 'message content is missing', 500);
  return { message, blob };
}

/**
 * The full message as served: this server's trace headers (Received:), then the bytes as
 * received. Its length is the message's stored size (RFC822.SIZE).
 */
export async function loadMessageBytes(db: Db, userId: number, messageId: number): Promise<Buffer> {
  const { message, blob } = await loadStoredMessage(db, userId, messageId);
  return Buffer.concat([Buffer.from(message.traceHeaders), blob]);
}

/**
 * Attachment `index` of the user's message (numbered as `renderMessage` numbers them), parsed on
 * the renderer's worker threads so a large message never stalls the caller's event loop; 404
 * `attachment.not_found` when there is none.
 */
export async function loadMessagePart(db: Db, userId: number, messageId: number, index: number): Promise<MessageAttachment> {
  const { blob } = await loadStoredMessage(db, userId, messageId);
  const [attachment] = await sharedMessageRenderer().attachments(blob, [index]);
  if (!attachment) throw new AppError('attachment.not_found', 'no such attachment', 404);
  return attachment;
}
