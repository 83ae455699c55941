import type { Readable } from 'node:stream';

/**
 * Reads a DATA stream into memory, keeping at most `max` bytes: the rest is read and dropped (the
 * library flags the overflow as `stream.sizeExceeded` and the handler answers 552).
 */
export function collectData(stream: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    stream.on('data', (chunk: Buffer) => {
      if (length + chunk.length <= max) chunks.push(chunk);
      length += chunk.length;
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}
