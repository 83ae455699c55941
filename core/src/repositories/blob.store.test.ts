import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStore, type TestStore } from '../../../tests/helpers/store.js';
import { asBase64, blobHash, bytesOf, createBlobRepository } from './blob.repository.js';

let store: TestStore;
beforeAll(async () => {
  store = await createTestStore();
});
afterAll(async () => {
  await store.drop();
});

describe('message bytes read as base64', () => {
  it('come back byte for byte, whatever their size (base64 line breaks and padding included) and whatever they hold', async () => {
    const blobs = [0, 1, 2, 3, 56, 57, 58, 4096, 40_000, 300_001].map((size) => randomBytes(size));
    blobs.push(Buffer.from('\0\r\n\xff\u00e4 text with NUL and CRLF\r\n', 'latin1'));
    const repo = createBlobRepository(store.db);
    await repo.putMany(blobs.map((data) => ({ hash: blobHash(data), data })));
    for (const data of blobs) expect((await repo.get(blobHash(data)))?.equals(data)).toBe(true);
    expect(await repo.get(blobHash(Buffer.from('never stored')))).toBeNull();
    // The column helper as the other reads use it, and a NULL (a missing blob) stays null.
    const hash = blobHash(blobs[9]!);
    const row = await store.db.selectFrom('blobs').select(asBase64('data').as('data')).where('hash', '=', hash).executeTakeFirstOrThrow();
    expect(bytesOf(row.data).equals(blobs[9]!)).toBe(true);
    expect(bytesOf(null)).toBeNull();
  });
});
