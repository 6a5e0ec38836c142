import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { milec } from '../helpers/milec.ts';

describe('milec sweep', () => {
  it('trains and evaluates each tune and writes the four reports', async () => {
    const out = mkdtempSync(join(tmpdir(), 'milec-sweep-'));
    const r = await milec('sweep', 'examples/miss_tiny.mile', '--tunes', 'f_f_lora_r4,f_f_ia3', '--steps', '3', '--batch', '2', '--beams', '1', '--eval-data', 'synthetic-vqa:4', '--out', out, '--json');
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.tune).slice(0, 2)).toEqual(['f_f_lora_r4', 'f_f_ia3']);
    for (const l of lines.slice(0, 2)) {
      expect(l.steps).toBe(3);
      expect(Number.isFinite(l.lossFirst)).toBe(true);
      expect(l.trainableParams).toBeGreaterThan(0);
      expect(l.measuredPeakBytes).toBeGreaterThan(0);
    }
    // LoRA r=4 on q and v of every self- and cross-attention of the 2-layer decoder: 8 sites × 4·(64+64).
    expect(lines[0].trainableParams).toBe(8 * 4 * 128);
    for (const f of ['sweep.md', 'sweep.csv', 'sweep.json', 'report.html']) expect(existsSync(join(out, f))).toBe(true);
    const json = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
    expect(json.rows).toHaveLength(2);
    expect(json.rows[0].losses).toHaveLength(3);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<svg');
  });

  it('--weights starts every tune from the same loaded backbone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-sweep-w-'));
    // A full-parameter checkpoint to start from (one step of t_t_t).
    const t = await milec('train', 'examples/miss_tiny.mile', '--tune', 't_t_t', '--data', 'synthetic', '--steps', '1', '--batch', '2', '--out', join(dir, 'base'), '--json', '--eval-batches', '1');
    expect(t.code, t.err).toBe(0);
    const args = ['sweep', 'examples/miss_tiny.mile', '--tunes', 'f_f_lora_r4', '--steps', '1', '--batch', '2', '--beams', '1', '--eval-data', 'synthetic-vqa:2', '--json'];
    const fresh = await milec(...args, '--out', join(dir, 'a'));
    const loaded = await milec(...args, '--out', join(dir, 'b'), '--weights', join(dir, 'base', 'adapter.safetensors'));
    expect(fresh.code, fresh.err).toBe(0);
    expect(loaded.code, loaded.err).toBe(0);
    const first = (r: { out: string }) => JSON.parse(r.out.trim().split('\n')[0]!).lossFirst as number;
    expect(first(loaded)).not.toBe(first(fresh));
    expect(JSON.parse(readFileSync(join(dir, 'b', 'sweep.json'), 'utf8')).data).toContain('--weights');
    const bad = await milec(...args, '--out', join(dir, 'c'), '--weights', join(dir, 'nope.safetensors'));
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('nope.safetensors');
  });

  it('an unknown tune is a one-line error with a suggestion', async () => {
    const r = await milec('sweep', 'examples/miss_tiny.mile', '--tunes', 'f_f_lora_r5', '--steps', '1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no tune named `f_f_lora_r5`.*did you mean `f_f_lora_r4`/);
  });
});
