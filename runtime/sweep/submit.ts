/**
 * Running a sweep's cells in other processes: as a Slurm job array (`submitToSlurm`: writes
 * OUT/sweep.sbatch and OUT/collect.sbatch, then `sbatch`s both, the collect job depending on the
 * array), or as `--parallel K` child processes on this machine (`runCellProcesses`). Either way
 * each process runs `milec sweep … --cell N` and the results meet in OUT/cells/.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../atomic.ts';
import { cellLogPath, pendingCells, type SweepPlan } from './cells.ts';
import { cellArgv, collectSbatch, mergeSlurmSettings, readSlurmConfig, type SlurmSettings, sweepSbatch } from './slurm.ts';

/** `sbatch` missing or refusing a script: what it said. */
export class SubmitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubmitError';
  }
}

/** What `--on slurm` did: the scripts, the cells it submitted, and the job ids (none with `--dry-run`). */
export interface Submitted {
  readonly script: string;
  readonly collectScript: string;
  /** The cells submitted: those without a result (none: nothing was submitted). */
  readonly cells: readonly number[];
  readonly arrayJob?: string;
  readonly collectJob?: string;
  /** The sbatch command lines, for `--dry-run` to print. */
  readonly commands: readonly string[];
}

/**
 * bin/milec.js of this checkout or install, found from this module's place: the package root is
 * the first folder above it with a package.json (runtime/sweep/ in the sources, dist/ in the bundle).
 */
export function milecBin(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'milec.js'))) return join(dir, 'bin', 'milec.js');
    const up = dirname(dir);
    if (up === dir) throw new SubmitError('cannot find bin/milec.js above the milec sources, which the Slurm tasks run');
    dir = up;
  }
}

export interface SubmitOptions extends SlurmSettings {
  readonly out: string;
  /** `--slurm-config FILE`: settings the flags override. */
  readonly slurmConfig?: string;
  readonly dryRun?: boolean;
}

/**
 * Writes OUT/sweep.sbatch (an array of the cells without a result) and OUT/collect.sbatch and,
 * unless `dryRun`, submits the array and then the collect job with
 * `--dependency=afterany:<array>`. With every cell done already, writes and submits nothing.
 */
export async function submitToSlurm(plan: SweepPlan, argv: readonly string[], o: SubmitOptions): Promise<Submitted> {
  const settings = mergeSlurmSettings(o.slurmConfig ? readSlurmConfig(o.slurmConfig) : {}, o);
  const out = resolve(o.out);
  const toRun = pendingCells(out, plan);
  const script = join(out, 'sweep.sbatch');
  const collectScript = join(out, 'collect.sbatch');
  if (toRun.length === 0) return { script, collectScript, cells: [], commands: [] };
  const job = {
    source: plan.source,
    out,
    workdir: process.cwd(),
    milec: milecBin(),
    cellArgs: cellArgv(argv),
    cells: plan.cells,
    toRun,
    writtenAt: new Date().toISOString(),
  };
  mkdirSync(join(out, 'logs'), { recursive: true });
  await writeFileAtomic(script, sweepSbatch(job, settings), { mode: 0o755 });
  await writeFileAtomic(collectScript, collectSbatch(job, settings), { mode: 0o755 });
  const commands = [`sbatch --parsable ${script}`, `sbatch --parsable --dependency=afterany:<array job> ${collectScript}`];
  if (o.dryRun) return { script, collectScript, cells: toRun, commands };
  const arrayJob = sbatch([script]);
  const collectJob = sbatch([`--dependency=afterany:${arrayJob}`, collectScript]);
  return { script, collectScript, cells: toRun, arrayJob, collectJob, commands };
}

/** Runs `sbatch --parsable ARGS` and returns the job id it printed (`id` or `id;cluster`). */
function sbatch(args: readonly string[]): string {
  const r = spawnSync('sbatch', ['--parsable', ...args], { encoding: 'utf8' });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new SubmitError(
      code === 'ENOENT'
        ? 'sbatch is not on PATH: --on slurm submits from a Slurm login node (--dry-run writes the scripts without submitting)'
        : `sbatch: ${r.error.message}`,
    );
  }
  if (r.status !== 0) throw new SubmitError(`sbatch ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim() || r.stdout.trim()}`);
  const id = r.stdout.trim().split(';')[0]!;
  if (!/^\d+$/.test(id)) throw new SubmitError(`sbatch ${args.join(' ')} printed "${r.stdout.trim()}", not a job id`);
  return id;
}

/**
 * Runs `milec sweep ARGV --cell N` for each of `cells` in child processes, `parallel` at a time,
 * each one's output in OUT/logs/cell-N.log (as an array task's). Returns the cells that failed.
 */
export async function runCellProcesses(
  argv: readonly string[],
  out: string,
  cells: readonly number[],
  parallel: number,
  ended: (cell: number, code: number | null) => void,
): Promise<number[]> {
  mkdirSync(join(out, 'logs'), { recursive: true });
  const bin = milecBin();
  const args = cellArgv(argv);
  const queue = [...cells];
  const failed: number[] = [];
  const worker = async () => {
    for (let cell = queue.shift(); cell !== undefined; cell = queue.shift()) {
      const code = await runLogged(process.execPath, [bin, 'sweep', ...args, '--cell', String(cell)], cellLogPath(out, cell));
      if (code !== 0) failed.push(cell);
      ended(cell, code);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, cells.length) }, worker));
  return failed.sort((a, b) => a - b);
}

/** Runs a command with its stdout and stderr in `logPath`; its exit status (null when a signal ended it). */
function runLogged(program: string, args: readonly string[], logPath: string): Promise<number | null> {
  const fd = openSync(logPath, 'w');
  return new Promise((done, fail) => {
    // SLURM_ARRAY_TASK_ID must not leak in: `--cell` says which cell.
    const env = { ...process.env };
    delete env.SLURM_ARRAY_TASK_ID;
    const child = spawn(program, args, { stdio: ['ignore', fd, fd], env });
    child.on('error', (e) => {
      closeSync(fd);
      fail(e);
    });
    child.on('close', (code) => {
      closeSync(fd);
      done(code);
    });
  });
}
