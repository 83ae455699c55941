import fs from 'node:fs/promises';
import path from 'node:path';
import { maildirFlags, toCrlf } from './metadata.js';

/**
 * Reads a Maildir++ tree as Dovecot and Courier keep it: the root's `cur/` and `new/` are the
 * INBOX, each `.<name>` folder beside them another mailbox (`.Work.Projects` is "Work/Projects").
 * Flags come from the file name's info (`:2,FS`), mail in `new/` is unseen, and the date is the
 * file's modification time (what Dovecot uses as the received date). Files in `tmp/` are mail
 * still being delivered and are left alone.
 */

export interface MaildirMessage {
  /** null: the INBOX. */
  folder: string | null;
  raw: Buffer;
  flags: string[];
  date: Date;
  /** The file, for error messages. */
  file: string;
}

export async function isMaildir(dir: string): Promise<boolean> {
  const stat = await fs.stat(path.join(dir, 'cur')).catch(() => null);
  return stat?.isDirectory() ?? false;
}

async function folders(root: string): Promise<Array<{ folder: string | null; dir: string }>> {
  const out: Array<{ folder: string | null; dir: string }> = [{ folder: null, dir: root }];
  for (const entry of (await fs.readdir(root, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() || !entry.name.startsWith('.') || entry.name === '.' || entry.name === '..') continue;
    const dir = path.join(root, entry.name);
    if (await isMaildir(dir)) out.push({ folder: entry.name.slice(1).split('.').join('/'), dir });
  }
  return out;
}

export async function* readMaildir(root: string): AsyncGenerator<MaildirMessage> {
  if (!(await isMaildir(root))) throw new Error(`${root} is not a Maildir (it has no cur/ folder)`);
  for (const { folder, dir } of await folders(root)) {
    for (const sub of ['cur', 'new'] as const) {
      const names = (await fs.readdir(path.join(dir, sub)).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
      for (const name of names) {
        const file = path.join(dir, sub, name);
        const stat = await fs.stat(file);
        if (!stat.isFile()) continue;
        const info = sub === 'cur' ? (/:2,([A-Za-z]*)$/.exec(name)?.[1] ?? '') : '';
        yield { folder, raw: toCrlf(await fs.readFile(file)), flags: maildirFlags(info), date: stat.mtime, file };
      }
    }
  }
}
