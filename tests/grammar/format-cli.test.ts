/** `milec fmt` (cli/fmt.ts), run in-process on a scratch folder. */
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffHint, fmtCommand, mileFiles, type FmtIo } from '../../cli/fmt.ts';

const FORMATTED = 'model M {\n  input x: f32[B, 4]\n  head = Linear(4, 2)\n}\n';
const MESSY = 'model   M{\ninput x : f32[B,4]\n  head=Linear( 4,2 )\n}';
const BROKEN = 'model M {\n  input x: f32[B, 4\n}\n';

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'milec-fmt-'));
  mkdirSync(join(dir, 'sub'));
  mkdirSync(join(dir, 'node_modules'));
  writeFileSync(join(dir, 'good.mile'), FORMATTED);
  writeFileSync(join(dir, 'sub', 'messy.mile'), MESSY);
  writeFileSync(join(dir, 'node_modules', 'dep.mile'), MESSY);
  writeFileSync(join(dir, 'notes.txt'), MESSY);
  return dir;
}

function io(stdin = ''): FmtIo & { stdout: string; stderr: string } {
  const r = {
    stdout: '',
    stderr: '',
    out: (s: string) => void (r.stdout += s),
    err: (s: string) => void (r.stderr += s),
    readStdin: () => stdin,
  };
  return r;
}

describe('milec fmt', () => {
  it('finds .mile files in folders, skipping node_modules and --exclude', () => {
    const dir = scratch();
    expect(mileFiles([dir])).toEqual([join(dir, 'good.mile'), join(dir, 'sub', 'messy.mile')]);
    expect(mileFiles([dir], [join(dir, 'sub')])).toEqual([join(dir, 'good.mile')]);
    expect(() => mileFiles([join(dir, 'nope')])).toThrow(/cannot read .*nope: no such file or folder/);
  });

  it('--check writes nothing, names the unformatted file with a diff, and exits 1', async () => {
    const dir = scratch();
    const out = io();
    expect(await fmtCommand([dir], { check: true }, out)).toBe(1);
    expect(readFileSync(join(dir, 'sub', 'messy.mile'), 'utf8')).toBe(MESSY);
    expect(out.stdout).toContain('messy.mile: not formatted');
    expect(out.stdout).toContain('-model   M{');
    expect(out.stdout).toContain('+model M {');
    expect(out.stdout).not.toContain('good.mile');
    expect(out.stderr).toContain('1 of 2 .mile files not formatted');
    expect(await fmtCommand([join(dir, 'good.mile')], { check: true }, io())).toBe(0);
  });

  it('rewrites only the files whose layout changes', async () => {
    const dir = scratch();
    const good = join(dir, 'good.mile');
    const before = statSync(good).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    const out = io();
    expect(await fmtCommand([dir], {}, out)).toBe(0);
    expect(readFileSync(join(dir, 'sub', 'messy.mile'), 'utf8')).toBe(FORMATTED);
    expect(statSync(good).mtimeMs).toBe(before);
    expect(out.stdout).toBe(`formatted ${join(dir, 'sub', 'messy.mile')}\n`);
    expect(await fmtCommand([dir], { check: true }, io())).toBe(0);
  });

  it('--stdout prints instead of writing; - formats standard input', async () => {
    const dir = scratch();
    const out = io();
    expect(await fmtCommand([join(dir, 'sub', 'messy.mile')], { stdout: true }, out)).toBe(0);
    expect(out.stdout).toBe(FORMATTED);
    expect(readFileSync(join(dir, 'sub', 'messy.mile'), 'utf8')).toBe(MESSY);
    const piped = io(MESSY);
    expect(await fmtCommand(['-'], {}, piped)).toBe(0);
    expect(piped.stdout).toBe(FORMATTED);
  });

  it('leaves a file that does not parse untouched, shows where, and exits 1', async () => {
    const dir = scratch();
    const bad = join(dir, 'bad.mile');
    writeFileSync(bad, BROKEN);
    const out = io();
    expect(await fmtCommand([bad], {}, out)).toBe(1);
    expect(readFileSync(bad, 'utf8')).toBe(BROKEN);
    expect(out.stderr).toMatch(/bad\.mile:\d+:\d+: error: /);
    expect(out.stderr).toContain('not formatted (it does not parse)');
  });

  it('--width splits long lines', async () => {
    const out = io('module M(aaaaaaaa: int, bbbbbbbb: int, cccccccc: int) { forward(x) { x } }\n');
    expect(await fmtCommand(['-'], { width: 40 }, out)).toBe(0);
    expect(out.stdout).toBe('module M(\n  aaaaaaaa: int,\n  bbbbbbbb: int,\n  cccccccc: int\n) { forward(x) { x } }\n');
  });
});

describe('diffHint', () => {
  it('shows the first changed places as unified hunks with a line of context', () => {
    const a = 'a\nb\nc\nd\ne\nf\ng\n';
    const b = 'a\nB\nc\nd\ne\nF\ng\n';
    expect(diffHint(a, b)).toBe('  @@ -1,2 +1,2 @@\n   a\n  -b\n  +B\n  @@ -5,2 +5,2 @@\n   e\n  -f\n  +F\n');
    expect(diffHint(a, b, 1)).toContain('… and 1 more changed places');
  });
});
