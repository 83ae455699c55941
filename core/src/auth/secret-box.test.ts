import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSecretBox, loadSecretKey } from './secret-box.js';

describe('secret box', () => {
  const key = Buffer.alloc(32, 7);

  it('seals with a fresh IV each time and opens what it sealed', () => {
    const box = createSecretBox(key);
    const a = box.seal('JBSWY3DPEHPK3PXP');
    const b = box.seal('JBSWY3DPEHPK3PXP');
    expect(a).toMatch(/^v1:/);
    expect(a).not.toBe(b);
    expect(box.open(a)).toBe('JBSWY3DPEHPK3PXP');
    // A value stored before sealing existed reads as it is.
    expect(box.open('JBSWY3DPEHPK3PXP')).toBe('JBSWY3DPEHPK3PXP');
  });

  it('refuses a tampered value or another key (GCM authentication)', () => {
    const sealed = createSecretBox(key).seal('secret');
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}${sealed.slice(-1)}`;
    expect(() => createSecretBox(key).open(tampered)).toThrow();
    expect(() => createSecretBox(Buffer.alloc(32, 8)).open(sealed)).toThrow();
  });

  it('creates DATA_DIR/secret.key once (0600) and reads the same key afterwards; SECRET_KEY wins when set', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'secret-box-'));
    try {
      const first = loadSecretKey(dir);
      expect(first).toHaveLength(32);
      expect(statSync(path.join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
      expect(loadSecretKey(dir).equals(first)).toBe(true);
      expect(readFileSync(path.join(dir, 'secret.key'), 'utf8').trim()).toBe(first.toString('hex'));
      expect(loadSecretKey(dir, 'ab'.repeat(32)).equals(Buffer.alloc(32, 0xab))).toBe(true);
      expect(() => loadSecretKey(dir, 'too-short')).toThrow(/SECRET_KEY must be 32 bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
