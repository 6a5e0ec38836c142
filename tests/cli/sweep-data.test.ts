import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonLines, milec } from '../helpers/milec.ts';

describe('milec sweep --data a,b', () => {
  it('runs every tune on each dataset, with a data column in every report', async () => {
    const out = mkdtempSync(join(tmpdir(), 'milec-sweep-data-'));
    const r = await milec(
      'sweep',
      'examples/miss_tiny.mile',
      '--data',
      'synthetic,synthetic-instruction',
      '--tunes',
      'f_f_lora_r4',
      '--steps',
      '2',
      '--batch',
      '2',
      '--beams',
      '1',
      '--eval-data',
      'synthetic-vqa:4',
      '--out',
      out,
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const lines = jsonLines(r.out);
    // Dataset-major: the tune on the first dataset, then on the second.
    expect(lines.slice(0, 2).map((l) => [l.tune, l.data])).toEqual([
      ['f_f_lora_r4', 'synthetic'],
      ['f_f_lora_r4', 'synthetic-instruction'],
    ]);
    const json = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
    expect(json.rows.map((row: { data: string }) => row.data)).toEqual(['synthetic', 'synthetic-instruction']);
    for (const row of json.rows) expect(row.n_global).toBe(4);
    expect(json.data).toBe(
      'synthetic (eval: synthetic-vqa:4); synthetic-instruction (eval: synthetic-vqa:4); every tune from examples/pretrained/miss_tiny_scenes.safetensors',
    );
    expect(json.baseline.data).toBe('synthetic');
    const csv = readFileSync(join(out, 'sweep.csv'), 'utf8').trim().split('\n');
    expect(csv[0]!.startsWith('tune,data,trainable_params,')).toBe(true);
    expect(csv.slice(1, 3).map((l) => l.split(',').slice(0, 2).join(','))).toEqual([
      'f_f_lora_r4,synthetic',
      'f_f_lora_r4,synthetic-instruction',
    ]);
    expect(readFileSync(join(out, 'sweep.md'), 'utf8')).toContain('| f_f_lora_r4 | synthetic-instruction |');
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<th>data</th>');
    // Each dataset's adapters in their own folder.
    for (const d of ['synthetic', 'synthetic-instruction'])
      expect(existsSync(join(out, d, 'f_f_lora_r4', 'adapter.safetensors'))).toBe(true);
  });
});
