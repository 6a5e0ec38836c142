import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAtomicTempName, writeDirAtomic, writeFileAtomic } from '../../runtime/atomic.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'milec-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const text = async (p: string) => (await readFile(p)).toString('utf8');

describe('writeFileAtomic', () => {
  it('creates and replaces a file, leaving no temp behind', async () => {
    const p = join(dir, 'state.json');
    await writeFileAtomic(p, 'one');
    expect(await text(p)).toBe('one');
    await writeFileAtomic(p, new TextEncoder().encode('two'));
    expect(await text(p)).toBe('two');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('streams chunks from sync and async producers', async () => {
    const p = join(dir, 'big.bin');
    const enc = new TextEncoder();
    await writeFileAtomic(p, [enc.encode('ab'), enc.encode('cd')]);
    expect(await text(p)).toBe('abcd');
    async function* gen() {
      for (let i = 0; i < 100; i++) yield new Uint8Array(1000).fill(i);
    }
    await writeFileAtomic(p, gen());
    const got = await readFile(p);
    expect(got.length).toBe(100_000);
    expect(got[99_999]).toBe(99);
  });

  it('a producer that throws leaves the old file intact and no temp file', async () => {
    const p = join(dir, 'ckpt.bin');
    await writeFileAtomic(p, 'old contents');
    async function* failing() {
      yield new TextEncoder().encode('half of the new');
      throw new Error('producer exploded');
    }
    await expect(writeFileAtomic(p, failing())).rejects.toThrow('producer exploded');
    expect(await text(p)).toBe('old contents');
    expect(await readdir(dir)).toEqual(['ckpt.bin']);
  });

  it('a bad chunk type fails the same way', async () => {
    const p = join(dir, 'x');
    await writeFileAtomic(p, 'keep');
    await expect(writeFileAtomic(p, ['not bytes' as unknown as Uint8Array])).rejects.toThrow(/non-Uint8Array/);
    expect(await text(p)).toBe('keep');
    expect(await readdir(dir)).toEqual(['x']);
  });

  it('a failed rename (target is a non-empty folder) removes the temp and keeps the folder', async () => {
    const p = join(dir, 'occupied');
    await mkdir(p);
    await writeFile(join(p, 'inside'), 'still here');
    await expect(writeFileAtomic(p, 'data')).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['occupied']);
    expect(await text(join(p, 'inside'))).toBe('still here');
  });

  it('fails cleanly when the directory has vanished', async () => {
    const sub = join(dir, 'gone');
    await mkdir(sub);
    await rm(sub, { recursive: true });
    await expect(writeFileAtomic(join(sub, 'f'), 'data')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('keeps the mode of the file it replaces', async () => {
    if (process.platform === 'win32') return;
    const p = join(dir, 'script.sh');
    await writeFile(p, '#!/bin/sh\n');
    await chmod(p, 0o751);
    await writeFileAtomic(p, '#!/bin/sh\necho hi\n');
    expect((await stat(p)).mode & 0o777).toBe(0o751);
  });

  it('names its temp files recognisably', () => {
    expect(isAtomicTempName('.model.safetensors.1234.0123456789ab.tmp')).toBe(true);
    expect(isAtomicTempName('.ckpt.99.abcdefabcdef.old')).toBe(true);
    expect(isAtomicTempName('model.safetensors')).toBe(false);
  });
});

describe('writeDirAtomic', () => {
  it('creates, then replaces a folder as a whole', async () => {
    const p = join(dir, 'ckpt');
    await writeDirAtomic(p, { 'adapter.safetensors': 'A1', 'state.json': '{"step":1}', 'opt/moments.bin': 'M1' });
    expect((await readdir(p)).sort()).toEqual(['adapter.safetensors', 'opt', 'state.json']);
    expect(await text(join(p, 'opt', 'moments.bin'))).toBe('M1');

    await writeDirAtomic(p, { 'adapter.safetensors': 'A2' });
    // A stale file from the previous version must not survive into the new one.
    expect(await readdir(p)).toEqual(['adapter.safetensors']);
    expect(await text(join(p, 'adapter.safetensors'))).toBe('A2');
    expect(await readdir(dir)).toEqual(['ckpt']);
  });

  it('accepts a callback that fills the staging folder', async () => {
    const p = join(dir, 'ckpt');
    await writeDirAtomic(p, async (staging) => {
      expect(isAtomicTempName(staging.split(/[\\/]/).pop()!)).toBe(true);
      await writeFileAtomic(join(staging, 'a'), 'from callback');
    });
    expect(await text(join(p, 'a'))).toBe('from callback');
  });

  it('a failure while building leaves the previous folder intact and no staging folder', async () => {
    const p = join(dir, 'ckpt');
    await writeDirAtomic(p, { a: 'old' });
    await expect(
      writeDirAtomic(p, async (staging) => {
        await writeFile(join(staging, 'a'), 'new');
        throw new Error('serializer failed');
      }),
    ).rejects.toThrow('serializer failed');
    async function* failing() {
      yield new Uint8Array(4);
      throw new Error('stream failed');
    }
    await expect(writeDirAtomic(p, { a: 'new', b: failing() })).rejects.toThrow('stream failed');
    expect(await readdir(dir)).toEqual(['ckpt']);
    expect(await readdir(p)).toEqual(['a']);
    expect(await text(join(p, 'a'))).toBe('old');
  });

  it('rejects names that escape the folder', async () => {
    const p = join(dir, 'ckpt');
    await expect(writeDirAtomic(p, { '../evil': 'x' })).rejects.toThrow(/plain relative path/);
    await expect(writeDirAtomic(p, { '/abs': 'x' })).rejects.toThrow(/plain relative path/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses to replace a file with a folder', async () => {
    const p = join(dir, 'ckpt');
    await writeFile(p, 'a file');
    await expect(writeDirAtomic(p, { a: 'x' })).rejects.toThrow(/not a folder/);
    expect(await text(p)).toBe('a file');
    expect(await readdir(dir)).toEqual(['ckpt']);
  });
});
