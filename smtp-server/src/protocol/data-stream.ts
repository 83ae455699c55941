import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { AppError } from '@mailyard/core';

/**
 * Receiving a DATA stream without holding big messages in RAM. A message stays in memory up to
 * `spillAt` bytes; past that, what came so far and the rest go to a temp file in a private folder
 * (0700, files 0600), read back once the message is complete and removed after use, also when the
 * client goes away in the middle. At most `max` bytes are kept: the rest is read and dropped (the
 * library flags the overflow as `stream.sizeExceeded` and the handler answers 552).
 */

export interface ReceivedMessage {
  /** Whether the message went to a temp file (it was larger than the threshold). */
  readonly spilled: boolean;
  /** The bytes kept (at most `max`). */
  readonly size: number;
  /** The message's bytes; read back from the temp file when it was spilled. */
  bytes(): Promise<Buffer>;
  /** Removes the temp file, if any; safe to call more than once. */
  discard(): Promise<void>;
}

export interface ReceiveOptions {
  /** Bytes kept at most (the SIZE limit). */
  max: number;
  /** A message larger than this goes to a temp file. */
  spillAt: number;
  /** The private folder of the temp files (`prepareSpillFolder`). */
  dir: string;
}

function inMemory(raw: Buffer): ReceivedMessage {
  return { spilled: false, size: raw.length, bytes: () => Promise.resolve(raw), discard: () => Promise.resolve() };
}

function onDisk(file: string, size: number): ReceivedMessage {
  return { spilled: true, size, bytes: () => fs.promises.readFile(file), discard: () => fs.promises.rm(file, { force: true }) };
}

/** Reads a DATA stream to its end; rejects (having removed its temp file) when the stream fails or the temp file cannot be written. */
export function receiveData(stream: Readable, options: ReceiveOptions): Promise<ReceivedMessage> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let kept = 0;
    let spill: { file: string; out: fs.WriteStream; closed: Promise<void> } | null = null;
    let writeError: Error | null = null;

    // Resolves once the temp file is closed and removed (never created, when its open failed).
    const removeSpill = async () => {
      if (!spill) return;
      spill.out.destroy();
      await spill.closed;
      await fs.promises.rm(spill.file, { force: true });
    };

    const startSpill = () => {
      const file = path.join(options.dir, `${randomUUID()}.eml`);
      const out = fs.createWriteStream(file, { flags: 'wx', mode: 0o600 });
      const closed = new Promise<void>((done) => out.once('close', done));
      out.on('error', (err) => {
        writeError ??= err;
        // Keep reading (and dropping) the rest, so the client gets its reply at the end of DATA.
        stream.resume();
      });
      for (const chunk of chunks.splice(0)) out.write(chunk);
      spill = { file, out, closed };
    };

    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > options.max || writeError) return;
      kept += chunk.length;
      if (!spill) {
        chunks.push(chunk);
        if (kept > options.spillAt) startSpill();
        return;
      }
      if (!spill.out.write(chunk)) {
        // Back-pressure: the socket is not read while the disk catches up.
        stream.pause();
        spill.out.once('drain', () => stream.resume());
      }
    });

    stream.once('end', () => {
      if (!spill) return resolve(inMemory(Buffer.concat(chunks)));
      const { file, out, closed } = spill;
      out.end();
      void closed.then(async () => {
        if (!writeError) return resolve(onDisk(file, kept));
        await fs.promises.rm(file, { force: true });
        reject(new AppError('smtp.data.spill_failed', `cannot write the message to ${options.dir}: ${writeError.message}`, 503));
      });
    });

    stream.once('error', (err) => {
      chunks.length = 0;
      void removeSpill().then(
        () => reject(err),
        () => reject(err),
      );
    });
  });
}

/** Reads a DATA stream into memory (at most `max` bytes kept), for authenticated submission. */
export async function collectData(stream: Readable, max: number): Promise<Buffer> {
  const message = await receiveData(stream, { max, spillAt: Number.POSITIVE_INFINITY, dir: '' });
  return message.bytes();
}

/**
 * Makes `dir` the private folder of DATA temp files: created 0700 when missing, refused when it is
 * not a real folder of this user, made 0700, and emptied (what a killed process left behind).
 * One smtp-server per folder.
 */
export function prepareSpillFolder(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory()) throw new AppError('smtp.spool_temp.unsafe', `${dir} must be a folder, not a link or a file`, 500);
  if (process.getuid && stat.uid !== process.getuid()) throw new AppError('smtp.spool_temp.unsafe', `${dir} belongs to another user (uid ${stat.uid})`, 500);
  fs.chmodSync(dir, 0o700);
  for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
}

/** A fresh private folder under the system temp folder, for listeners built without one (tests). */
export function privateSpillFolder(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-smtp-data-'));
}
