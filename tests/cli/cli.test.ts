import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { milec } from '../helpers/milec.ts';

const tiny = 'examples/tiny_classifier.mile';

describe('milec CLI', () => {
  it('check succeeds on the example', async () => {
    const r = await milec('check', tiny, '--tune', 'lora_qv');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ok — model TinyClassifier, tune lora_qv: 22,404 parameters, 2,180 trainable/);
  });

  it('reports a located error with exit 1 and no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-'));
    const file = join(dir, 'bad.mile');
    writeFileSync(file, readFileSync(tiny, 'utf8').replace('{query, value}', '{query, valeu}'));
    const r = await milec('check', file, '--tune', 'lora_qv');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.mile:\d+:\d+: error: `valeu` in `blocks\.\*\.attn\.\{query, valeu\}` matches nothing in the model/);
    expect(r.err).toContain('^^^^');
    expect(r.err).not.toMatch(/\bat .*\.ts:\d+/);
  });

  it('a parse error exits 1 with file:line:col', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-'));
    const file = join(dir, 'bad.mile');
    writeFileSync(file, 'model M {\n  input x: f32[B, 4\n}\n');
    const r = await milec('check', file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.mile:\d+:\d+: error: /);
    expect(r.err).not.toMatch(/\bat .*\.ts:\d+/);
  });

  it('a missing file exits 1 with a one-line message', async () => {
    const r = await milec('check', 'no/such/file.mile');
    expect(r.code).toBe(1);
    expect(r.err).toContain('cannot read no/such/file.mile');
  });

  it('usage errors exit 2, with suggestions for mistyped options', async () => {
    expect((await milec('check')).code).toBe(2);
    const r = await milec('train', tiny, '--stpes', '3');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--steps/);
    expect((await milec('frobnicate')).code).toBe(2);
    expect((await milec('compile', tiny, '--emit', 'bogus')).code).toBe(2);
    expect((await milec('train', tiny, '--steps', '-3')).code).toBe(2);
  });

  it('--emit prints each stage', async () => {
    expect((await milec('compile', tiny, '--emit', 'ast')).out).toContain('"kind": "model"');
    const ir = (await milec('compile', tiny, '--tune', 'lora_qv', '--emit', 'ir')).out;
    expect(ir).toMatch(/param blocks\[0\]\.attn\.query\.lora_A: f32\[8, 32\] = %\d+ trainable \(lora\)/);
    expect(ir).toMatch(/input tokens: i32\[B, 16\]/);
    const grad = (await milec('compile', tiny, '--tune', 'lora_qv', '--emit', 'grad')).out;
    expect(grad).toMatch(/grad blocks\[1\]\.attn\.value\.lora_B = %\d+/);
    expect(grad).not.toMatch(/grad blocks\[0\]\.attn\.query\.weight/);
    const wgsl = await milec('compile', tiny, '--tune', 'lora_qv', '--emit', 'wgsl', '--batch', '4');
    expect(wgsl.code).toBe(0);
    expect(wgsl.out).toContain('@compute');
    const plan = await milec('compile', tiny, '--tune', 'lora_qv', '--emit', 'plan', '--batch', '4');
    expect(plan.code).toBe(0);
    expect(plan.out.length).toBeGreaterThan(100);
  });

  it('-o writes kernels and the plan', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-'));
    const r = await milec('compile', tiny, '--tune', 'lora_qv', '-o', dir);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'plan.txt'))).toBe(true);
    expect(existsSync(join(dir, 'kernels', 'k0000.wgsl'))).toBe(true);
  });
});
