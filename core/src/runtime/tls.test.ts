import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadTlsMaterial } from './tls.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('loadTlsMaterial', () => {
  it('gives services that start at once on one DATA_DIR the same matching self-signed pair', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-race-'));
    dirs.push(dataDir);
    const pairs = await Promise.all([1, 2, 3].map(() => loadTlsMaterial({ dataDir, hostname: 'mx.race.test' })));
    for (const pair of pairs) {
      expect(pair.selfSigned).toBe(true);
      expect(pair.cert.equals(pairs[0]!.cert)).toBe(true);
      expect(new crypto.X509Certificate(pair.cert).checkPrivateKey(crypto.createPrivateKey(pair.key))).toBe(true);
    }
    expect(fs.readdirSync(dataDir)).toEqual(['tls']);
  });
});
