/**
 * A sweep as cells, without training anything: the numbering, the fingerprint, the Slurm
 * scripts and settings, and `--collect` over a sweep folder with finished, failed and missing
 * cells (built here by hand, as array tasks would leave it). The cells that really train are
 * tests/cli/sweep-cells-run.test.ts; a real Slurm is scripts/test-slurm.sh.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  cellGroupDir,
  type CellResult,
  ensurePlan,
  pendingCells,
  readCellResult,
  sweepCells,
  sweepFingerprint,
  type SweepPlan,
  writeCellFailure,
  writeCellResult,
} from '../../runtime/sweep/cells.ts';
import { collectSweep } from '../../runtime/sweep/collect.ts';
import { sweepCsv, sweepHtml, sweepMarkdown, type SweepRow } from '../../runtime/sweep/report.ts';
import {
  arrayRanges,
  cellArgv,
  collectSbatch,
  mergeSlurmSettings,
  readSlurmConfig,
  shellWord,
  sweepSbatch,
  type SweepJobs,
} from '../../runtime/sweep/slurm.ts';
import { milec, milecEnv, run } from '../helpers/milec.ts';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `milec-cells-${name}-`));

describe('sweep cells: numbering', () => {
  it('is dataset-major, then seed, then tune, in command-line order: index = (dataset × seeds + seed) × tunes + tune', () => {
    const cells = sweepCells(['x', 'y'], ['a', 'b'], [0, 1]);
    expect(cells.map((c) => `${c.index}:${c.data}/${c.seed}/${c.tune}`)).toEqual([
      '0:a/0/x',
      '1:a/0/y',
      '2:a/1/x',
      '3:a/1/y',
      '4:b/0/x',
      '5:b/0/y',
      '6:b/1/x',
      '7:b/1/y',
    ]);
    for (const c of cells) expect(c.index).toBe((['a', 'b'].indexOf(c.data) * 2 + [0, 1].indexOf(c.seed)) * 2 + ['x', 'y'].indexOf(c.tune));
    // Stable: the same command line numbers the same way.
    expect(sweepCells(['x', 'y'], ['a', 'b'], [0, 1])).toEqual(cells);
  });

  it("puts a cell's checkpoints where milec sweep always did, adding <data>/ and seed-<s>/ only when the sweep crosses several", () => {
    const [one] = sweepCells(['x'], ['synthetic'], [0]);
    expect(cellGroupDir('out', one!, { datasets: ['synthetic'], seeds: [0] })).toBe('out');
    const cell = sweepCells(['x'], ['vqa-rad:/d/r', 'synthetic'], [3, 4])[1]!;
    expect(cellGroupDir('out', cell, { datasets: ['vqa-rad:/d/r', 'synthetic'], seeds: [3, 4] })).toBe(
      join('out', 'vqa-rad_d_r', 'seed-4'),
    );
  });

  it('fingerprints the file text and the settings, not their order or unset ones', () => {
    const f = sweepFingerprint('model M {}', { steps: 3, batch: 2, config: new Map([['qlen', '8']]) });
    expect(sweepFingerprint('model M {}', { batch: 2, config: new Map([['qlen', '8']]), steps: 3, lr: undefined })).toBe(f);
    expect(sweepFingerprint('model M { }', { steps: 3, batch: 2, config: new Map([['qlen', '8']]) })).not.toBe(f);
    expect(sweepFingerprint('model M {}', { steps: 4, batch: 2, config: new Map([['qlen', '8']]) })).not.toBe(f);
    expect(sweepFingerprint('model M {}', { steps: 3, batch: 2, config: new Map([['qlen', '9']]) })).not.toBe(f);
  });
});

describe('sweep cells: the Slurm scripts', () => {
  const cells = sweepCells(['f_f_lora_r4', 'f_f_ia3'], ['synthetic'], [0, 1]);
  const job: SweepJobs = {
    source: 'examples/miss_tiny.mile',
    out: '/scratch/my sweep',
    workdir: '/home/me/milec',
    milec: '/home/me/milec/bin/milec.js',
    cellArgs: ['examples/miss_tiny.mile', '--tunes', 'f_f_lora_r4,f_f_ia3', '--seeds', '0,1', '--out', '/scratch/my sweep'],
    cells,
    toRun: [0, 1, 2, 3],
    writtenAt: '2026-01-01T00:00:00.000Z',
  };

  it('writes an array of one task per cell that runs milec sweep … --cell $SLURM_ARRAY_TASK_ID, with only the settings given', () => {
    const bare = sweepSbatch(job, {});
    expect(bare.startsWith('#!/bin/bash\n')).toBe(true);
    expect(bare).toContain('#SBATCH --array=0-3\n');
    expect(bare).toContain("#SBATCH --output='/scratch/my sweep/logs/cell-%a.log'");
    expect(bare).toContain('#SBATCH --chdir=/home/me/milec');
    for (const d of ['--partition', '--account', '--time', '--gres']) expect(bare).not.toContain(`#SBATCH ${d}`);
    expect(bare).toContain(
      `exec node /home/me/milec/bin/milec.js sweep examples/miss_tiny.mile --tunes f_f_lora_r4,f_f_ia3 --seeds 0,1 --out '/scratch/my sweep' --cell "$SLURM_ARRAY_TASK_ID"`,
    );
    expect(bare).toContain('export XDG_RUNTIME_DIR=');
    // The cells, documented in the script: index, tune, data, seed.
    expect(bare).toMatch(/#\s+3 {2}f_f_ia3\s+synthetic\s+seed 1/);
    const full = sweepSbatch(
      { ...job, toRun: [1, 3] },
      {
        partition: 'gpu',
        account: 'rad',
        gpusPerCell: 2,
        parallel: 3,
        time: '1:00:00',
        sbatchArgs: ['--mem=16G'],
        setup: ['module load nodejs/20'],
      },
    );
    for (const line of [
      '#SBATCH --array=1,3%3',
      '#SBATCH --partition=gpu',
      '#SBATCH --account=rad',
      '#SBATCH --gres=gpu:2',
      '#SBATCH --time=1:00:00',
      '#SBATCH --mem=16G',
    ])
      expect(full).toContain(line + '\n');
    // Every #SBATCH line comes before the first command, or sbatch ignores it.
    const lines = full.split('\n');
    const firstCommand = lines.findIndex((l) => l === 'set -euo pipefail');
    const lastDirective = lines.reduce((last, l, i) => (l.startsWith('#SBATCH') ? i : last), -1);
    expect(lastDirective).toBeLessThan(firstCommand);
    expect(lines.indexOf('module load nodejs/20')).toBeGreaterThan(firstCommand);
  });

  it('writes a collect job of milec sweep --collect OUT, without GPUs', () => {
    const c = collectSbatch(job, { partition: 'gpu', gpusPerCell: 1 });
    expect(c).toContain("exec node /home/me/milec/bin/milec.js sweep --collect '/scratch/my sweep'");
    expect(c).toContain('#SBATCH --partition=gpu');
    expect(c).not.toContain('--gres');
  });

  it('numbers the cells to run as sbatch ranges', () => {
    expect(arrayRanges([0, 1, 2, 3])).toBe('0-3');
    expect(arrayRanges([5, 0, 1, 3, 7, 8, 3])).toBe('0-1,3,5,7-8');
    expect(arrayRanges([4])).toBe('4');
  });

  it("gives each task the user's command line without the options of submitting", () => {
    expect(
      cellArgv([
        'f.mile',
        '--on',
        'slurm',
        '--steps',
        '3',
        '--partition=gpu',
        '--gpus-per-cell',
        '1',
        '--sbatch-arg=--mem=8G',
        '--dry-run',
        '--parallel',
        '4',
        '--slurm-config',
        'c.json',
        '--out',
        'o',
      ]),
    ).toEqual(['f.mile', '--steps', '3', '--out', 'o']);
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
  });

  it('reads the cluster settings from a JSON file, the flags winning and extra lines adding up', () => {
    const dir = tmp('config');
    const file = join(dir, 'cluster.json');
    writeFileSync(
      file,
      JSON.stringify({ partition: 'a100', account: 'lab', time: '2:00:00', sbatchArgs: ['--mem=16G'], setup: ['module load node'] }),
    );
    const merged = mergeSlurmSettings(readSlurmConfig(file), { partition: 'h100', sbatchArgs: ['--qos=short'] });
    expect(merged).toMatchObject({
      partition: 'h100',
      account: 'lab',
      time: '2:00:00',
      sbatchArgs: ['--mem=16G', '--qos=short'],
      setup: ['module load node'],
    });
    writeFileSync(file, JSON.stringify({ partiton: 'a100' }));
    expect(() => readSlurmConfig(file)).toThrow(/cluster\.json: unknown key "partiton" \(did you mean `partition`\?\)/);
    writeFileSync(file, JSON.stringify({ gpusPerCell: 'one' }));
    expect(() => readSlurmConfig(file)).toThrow(/"gpusPerCell" must be an integer/);
    writeFileSync(file, '{ partition: gpu }');
    expect(() => readSlurmConfig(file)).toThrow(/cluster\.json: the Slurm config is not valid JSON/);
    expect(() => readSlurmConfig(join(dir, 'none.json'))).toThrow(/none\.json: cannot read the Slurm config \(ENOENT\)/);
  });
});

/** A plan of three tunes, and a finished result of cell `index` with made-up numbers. */
function fakeSweep(out: string): SweepPlan {
  const tunes = ['a', 'b', 'c', 'd'];
  return {
    version: 1,
    source: 'examples/miss_tiny.mile',
    fingerprint: sweepFingerprint('text', { steps: 2 }),
    tunes,
    datasets: ['synthetic'],
    seeds: [0],
    cells: sweepCells(tunes, ['synthetic'], [0]),
    evalData: 'synthetic-vqa:4',
  };
}
function fakeResult(plan: SweepPlan, index: number, global: number): CellResult {
  const row: SweepRow = {
    tune: plan.cells[index]!.tune,
    data: 'synthetic',
    trainableParams: 10,
    totalParams: 100,
    trainablePercent: 10,
    predictedPeakBytes: 1,
    measuredPeakBytes: 1,
    msPerStep: 5,
    steps: 2,
    global,
    n_global: 4,
    global_ci: [0, 1],
    losses: [2, 1],
  };
  return {
    ...plan.cells[index]!,
    fingerprint: plan.fingerprint,
    device: 'test adapter',
    row,
    diverged: false,
    seconds: { compile: 1, train: 1, eval: 1, total: 3 },
    baseline: { rule: 'prior', trainItems: 4, global: 0.25 },
    dir: plan.cells[index]!.tune,
  };
}

describe('sweep cells: results and --collect', () => {
  it('reuses a result only for the same sweep, and lists the cells still to run', async () => {
    const out = tmp('reuse');
    const plan = fakeSweep(out);
    await ensurePlan(out, plan, true);
    await writeCellResult(out, fakeResult(plan, 1, 0.5));
    expect(readCellResult(out, 1, plan.fingerprint)?.row.global).toBe(0.5);
    expect(pendingCells(out, plan)).toEqual([0, 2, 3]);
    // Another sweep's result is not this sweep's: rerun (and replaced), not reused.
    expect(readCellResult(out, 1, 'other')).toBeUndefined();
    // One cell checks the plan: a folder taken by another sweep is an error naming the file.
    await expect(ensurePlan(out, { ...plan, fingerprint: 'other' }, false)).rejects.toThrow(
      /sweep-plan\.json: .* holds a sweep with other settings/,
    );
    // The whole sweep replaces it.
    await ensurePlan(out, { ...plan, fingerprint: 'other' }, true);
    expect(JSON.parse(readFileSync(join(out, 'sweep-plan.json'), 'utf8')).fingerprint).toBe('other');
  });

  it('merges the finished cells and lists the failed and missing ones with their logs', async () => {
    const out = tmp('collect');
    const plan = fakeSweep(out);
    await ensurePlan(out, plan, true);
    await writeCellResult(out, fakeResult(plan, 0, 0.5));
    await writeCellResult(out, fakeResult(plan, 3, 0.75));
    // Cell 1 was killed: a log, no result. Cell 2 failed with an error. Cell 3 is done. Nothing of cell… none else.
    mkdirSync(join(out, 'logs'), { recursive: true });
    writeFileSync(
      join(out, 'logs', 'cell-1.log'),
      'milec sweep: cell 1 of 4\nslurmstepd: error: *** JOB 7 ON node CANCELLED AT 2026-01-01 ***\n',
    );
    await writeCellFailure(out, { index: 2, fingerprint: plan.fingerprint, error: 'out of memory' });
    const { report, missing } = collectSweep(out);
    expect(report.rows.map((r) => r.tune)).toEqual(['a', 'd']);
    expect(report.cells).toEqual({ total: 4, done: 2 });
    expect(report.baseline?.global).toBe(0.25);
    expect(missing.map((m) => [m.index, m.status])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
    ]);
    expect(missing[0]!.logTail).toContain('CANCELLED');
    expect(missing[1]!.reason).toBe('out of memory');
    const md = sweepMarkdown(report);
    expect(md).toContain('## 2 of 4 cells have no result');
    expect(md).toContain('- cell 1 (b on synthetic, seed 0): failed: no result: its task ended without writing one');
    expect(md).toContain('  slurmstepd: error: *** JOB 7 ON node CANCELLED');
    expect(sweepHtml(report)).toContain('<pre>milec sweep: cell 1 of 4');
    // The CSV holds results only.
    expect(sweepCsv(report).trim().split('\n')).toHaveLength(1 + 2 + 1);
  });

  it('says a cell never ran when it has neither a result nor a log', async () => {
    const out = tmp('missing');
    const plan = fakeSweep(out);
    await ensurePlan(out, plan, true);
    const { report, missing } = collectSweep(out);
    expect(report.rows).toHaveLength(0);
    expect(missing.every((m) => m.status === 'missing' && m.reason === 'not run (no result and no log)')).toBe(true);
  });

  it('milec sweep --collect OUT writes the reports and exits 0 with cells missing', async () => {
    const out = tmp('collect-cli');
    const plan = fakeSweep(out);
    await ensurePlan(out, plan, true);
    await writeCellResult(out, fakeResult(plan, 2, 0.5));
    const r = await milec('sweep', '--collect', out, '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ done: true, tunes: 1, cells: { total: 4, done: 1 } });
    for (const f of ['sweep.md', 'sweep.csv', 'sweep.json', 'report.html']) expect(existsSync(join(out, f))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).missing.map((m: { index: number }) => m.index)).toEqual([0, 1, 3]);
  });

  it('--collect of a folder without a sweep is a one-line error naming the file', async () => {
    const out = tmp('nothing');
    const r = await milec('sweep', '--collect', out);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${join(out, 'sweep-plan.json')}: not found`);
  });
});

describe('milec sweep --on slurm', () => {
  const args = ['sweep', 'examples/miss_tiny.mile', '--tunes', 'f_f_lora_r4,f_f_ia3', '--steps', '2', '--on', 'slurm'];

  it('--dry-run writes sweep.sbatch and collect.sbatch without submitting', async () => {
    const out = tmp('dry');
    const r = await milec(...args, '--out', out, '--dry-run', '--partition', 'gpu', '--parallel', '2', '--sbatch-arg=--mem=4G');
    expect(r.code, r.err).toBe(0);
    const script = readFileSync(join(out, 'sweep.sbatch'), 'utf8');
    expect(script).toContain('#SBATCH --array=0-1%2\n');
    expect(script).toContain('#SBATCH --mem=4G\n');
    expect(script).toContain(
      `sweep examples/miss_tiny.mile --tunes f_f_lora_r4,f_f_ia3 --steps 2 --out ${out} --cell "$SLURM_ARRAY_TASK_ID"`,
    );
    expect(script).toContain(`${join(dirname(dirname(__dirname)), 'bin', 'milec.js')}`);
    expect(readFileSync(join(out, 'collect.sbatch'), 'utf8')).toContain(`sweep --collect ${out}`);
    expect(JSON.parse(readFileSync(join(out, 'sweep-plan.json'), 'utf8')).cells).toHaveLength(2);
    expect(r.err).toContain('sbatch --parsable --dependency=afterany:<array job>');
  });

  it('without sbatch on PATH, says so and where to submit from', async () => {
    const out = tmp('nosbatch');
    // A PATH of node alone (node's own folder may hold sbatch too, as /usr/bin does).
    const bin = join(out, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    const r = await run(process.execPath, ['bin/milec.js', ...args, '--out', out], { env: milecEnv({ PATH: bin }) });
    expect(r.code).toBe(1);
    expect(r.err).toContain('sbatch is not on PATH: --on slurm submits from a Slurm login node');
  });

  it('a Slurm option without --on is a one-line error', async () => {
    const a = await milec('sweep', 'examples/miss_tiny.mile', '--partition', 'gpu');
    expect(a.code).toBe(1);
    expect(a.err).toContain('--partition is an option of --on slurm, which is not given');
  });

  it('--cell with --on is a one-line error', async () => {
    const b = await milec(...args, '--cell', '0');
    expect(b.code).toBe(1);
    expect(b.err).toContain('--on slurm and --cell do not go together');
  });
});
