/**
 * Cells that really train (MISS-tiny, 2 steps of batch 2, 4 eval items): one cell alone gives
 * the row the whole sweep gives, a written cell skips, `SLURM_ARRAY_TASK_ID` picks the cell, and
 * `--parallel` runs the rest in child processes and collects. The kernels are those
 * tests/cli/sweep.test.ts compiles (f_f_ia3, f_f_lora_r4).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { milecEnv, run } from '../helpers/milec.ts';

const small = ['--steps', '2', '--batch', '2', '--beams', '1', '--eval-data', 'synthetic-vqa:4', '--json'];
const sweep = (tunes: string, out: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, ['bin/milec.js', 'sweep', 'examples/miss_tiny.mile', '--tunes', tunes, ...small, '--out', out, ...extra], {
    env: milecEnv({ SLURM_ARRAY_TASK_ID: undefined, ...env }),
  });
const rows = (out: string) => JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).rows as { tune: string; losses: number[] }[];

describe('milec sweep --cell', () => {
  const whole = mkdtempSync(join(tmpdir(), 'milec-cells-whole-'));
  const cells = mkdtempSync(join(tmpdir(), 'milec-cells-one-'));

  it('the whole sweep of one tune writes its cell, plan and reports', async () => {
    const r = await sweep('f_f_ia3', whole);
    expect(r.code, r.err).toBe(0);
    for (const f of ['cells/0.json', 'sweep-plan.json', 'sweep.json', 'f_f_ia3/adapter/adapter_config.json'])
      expect(existsSync(join(whole, f))).toBe(true);
  });

  it('--cell 1 of two tunes trains that tune alone, to the same losses as the whole sweep (bit for bit)', async () => {
    const r = await sweep('f_f_lora_r4,f_f_ia3', cells, ['--cell', '1']);
    expect(r.code, r.err).toBe(0);
    const cell = JSON.parse(readFileSync(join(cells, 'cells', '1.json'), 'utf8'));
    expect(cell).toMatchObject({ index: 1, tune: 'f_f_ia3', data: 'synthetic', seed: 0, dir: 'f_f_ia3' });
    expect(cell.seconds.total).toBeGreaterThan(0);
    expect(cell.row.losses).toEqual(rows(whole)[0]!.losses);
    expect(existsSync(join(cells, 'f_f_ia3', 'adapter', 'adapter_config.json'))).toBe(true);
    // One cell writes no reports (the collect does), and did not run cell 0.
    expect(existsSync(join(cells, 'sweep.json'))).toBe(false);
    expect(existsSync(join(cells, 'cells', '0.json'))).toBe(false);
  });

  it('takes its cell from SLURM_ARRAY_TASK_ID and skips a cell whose result is written', async () => {
    const before = statSync(join(cells, 'cells', '1.json')).mtimeMs;
    const r = await sweep('f_f_lora_r4,f_f_ia3', cells, [], { SLURM_ARRAY_TASK_ID: '1' });
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out.trim())).toMatchObject({ cell: 1, tune: 'f_f_ia3', skipped: true });
    expect(statSync(join(cells, 'cells', '1.json')).mtimeMs).toBe(before);
  });

  it('a SLURM_ARRAY_TASK_ID past the last cell is a one-line error saying how many cells there are', async () => {
    const r = await sweep('f_f_lora_r4,f_f_ia3', cells, [], { SLURM_ARRAY_TASK_ID: '7' });
    expect(r.code).toBe(1);
    expect(r.err).toContain('SLURM_ARRAY_TASK_ID 7: the sweep has 2 cells (0–1: 2 tunes × 1 datasets × 1 seeds)');
  });

  it('--parallel runs the cells without a result in child processes, logs each, and collects all', async () => {
    const r = await sweep('f_f_lora_r4,f_f_ia3', cells, ['--parallel', '2']);
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(join(cells, 'logs', 'cell-0.log'), 'utf8')).toContain('"tune":"f_f_lora_r4"');
    // Cell 1 was done: no process ran it.
    expect(existsSync(join(cells, 'logs', 'cell-1.log'))).toBe(false);
    expect(rows(cells).map((x) => x.tune)).toEqual(['f_f_lora_r4', 'f_f_ia3']);
    expect(JSON.parse(r.out.trim().split('\n').pop()!)).toMatchObject({ done: true, cells: { total: 2, done: 2 }, missing: [] });
  });
});
