import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.js';

/**
 * Where uploads keep their bytes, and what of the user's input is kept with them. Uploads are
 * files sent ahead of composing, to attach to drafts; each is a row (core/src/repositories/
 * upload.repository.ts) plus the bytes at `<DATA_DIR>/uploads/<id>`: the id is 128 random bits
 * in base64url, so the path never carries anything the user chose.
 */

/** 128 random bits, base64url (22 characters). */
export const UPLOAD_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

export function newUploadId(): string {
  return randomBytes(16).toString('base64url');
}

export function uploadsDir(dataDir: string): string {
  return path.join(dataDir, 'uploads');
}

/** Where an upload's bytes live; throws on anything that is not an id this server makes. */
export function uploadPath(dataDir: string, id: string): string {
  if (!UPLOAD_ID_PATTERN.test(id)) throw new AppError('upload.not_found', 'no such upload', 404);
  return path.join(uploadsDir(dataDir), id);
}

/** A filename as kept: no directories, no control characters, at most 255 characters, never empty. */
export function cleanFilename(name: string | undefined): string {
  // eslint-disable-next-line no-control-regex
  const base = (name ?? '').split(/[\\/]/).pop()!.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
  return base === '' || base === '.' || base === '..' ? 'attachment' : base;
}

/** A MIME type as kept (type/subtype, lower-cased); anything else is application/octet-stream. */
export function cleanContentType(type: string | undefined): string {
  const value = (type ?? '').trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/.test(value) ? value : 'application/octet-stream';
}

/** Unlinks a file; a file that is already gone is fine. */
export async function removeFile(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
