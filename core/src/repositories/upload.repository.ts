import type { DbOrTx } from '../db/client.js';
import { AppError } from '../errors.js';
import { removeFile, UPLOAD_ID_PATTERN, uploadPath } from '../storage/upload-files.js';

/**
 * Uploads (table uploads, bytes under <DATA_DIR>/uploads: core/src/storage/upload-files.ts),
 * always read through their owner: another user's id is "not found". Removing an upload removes
 * its row first, then its file, so a row never points at a missing file.
 */

export interface Upload {
  id: string;
  userId: number;
  filename: string;
  contentType: string;
  size: number;
  createdAt: Date;
}

export function createUploadRepository(db: DbOrTx, dataDir: string) {
  return {
    async insert(upload: { id: string; userId: number; filename: string; contentType: string; size: number }): Promise<void> {
      await db.insertInto('uploads').values({ id: upload.id, user_id: upload.userId, filename: upload.filename, content_type: upload.contentType, size: upload.size }).execute();
    },
    async get(userId: number, id: string): Promise<Upload | null> {
      if (!UPLOAD_ID_PATTERN.test(id)) return null;
      const r = await db.selectFrom('uploads').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      return r ? { id: r.id, userId: r.user_id, filename: r.filename, contentType: r.content_type, size: r.size, createdAt: r.created_at } : null;
    },
    /** The user's uploads with these ids, in the order asked; 404 'upload.not_found' if any is missing or not theirs. */
    async requireMany(userId: number, ids: readonly string[]): Promise<Upload[]> {
      const out: Upload[] = [];
      for (const id of ids) {
        const upload = await this.get(userId, id);
        if (!upload) throw new AppError('upload.not_found', `no such upload: ${JSON.stringify(id.slice(0, 40))}`, 404);
        out.push(upload);
      }
      return out;
    },
    /**
     * Uploads are staging: once a draft or a sent message is built, its bytes live in the
     * message. Deletes uploads older than `olderThan` (rows first, then files); returns how many.
     */
    async sweep(olderThan: Date, batch = 500): Promise<number> {
      let total = 0;
      for (;;) {
        const rows = await db
          .deleteFrom('uploads')
          .where('id', 'in', (eb) => eb.selectFrom('uploads').select('id').where('created_at', '<', olderThan).limit(batch))
          .returning('id')
          .execute();
        for (const r of rows) await removeFile(uploadPath(dataDir, r.id));
        total += rows.length;
        if (rows.length < batch) return total;
      }
    },
    /** Deletes the row, then the file; false if the user has no such upload. */
    async delete(userId: number, id: string): Promise<boolean> {
      if (!UPLOAD_ID_PATTERN.test(id)) return false;
      const removed = await db.deleteFrom('uploads').where('id', '=', id).where('user_id', '=', userId).returning('id').executeTakeFirst();
      if (!removed) return false;
      await removeFile(uploadPath(dataDir, id));
      return true;
    },
  };
}
export type UploadRepository = ReturnType<typeof createUploadRepository>;
