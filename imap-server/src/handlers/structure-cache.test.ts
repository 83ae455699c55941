import { describe, expect, it } from 'vitest';
import { MimeMessage } from '../protocol/message/index.js';
import { StructureCache } from './structure-cache.js';

const message = (subject: string) => MimeMessage.parse(Buffer.from(`From: a@b.test\r\nSubject: ${subject}\r\n\r\nbody\r\n`));

describe('StructureCache', () => {
  it('keeps the envelope and both body structures of a parsed message by id', () => {
    const cache = new StructureCache();
    const mime = message('One');
    expect(cache.get(1)).toBeUndefined();
    expect(cache.remember(1, mime)).toEqual({ envelope: mime.envelope(), bodyStructure: mime.bodyStructure(true), body: mime.bodyStructure(false) });
    expect(cache.get(1)!.envelope).toContain('"One"');
  });

  it('holds at most its bound, dropping the least recently used', () => {
    const cache = new StructureCache(2);
    cache.remember(1, message('One'));
    cache.remember(2, message('Two'));
    cache.get(1); // 2 is now the least recently used
    cache.remember(3, message('Three'));
    expect(cache.size).toBe(2);
    expect(cache.get(2)).toBeUndefined();
    expect(cache.get(1)!.envelope).toContain('"One"');
    expect(cache.get(3)!.envelope).toContain('"Three"');
  });
});
