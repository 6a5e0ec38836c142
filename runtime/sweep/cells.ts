/**
 * A sweep as independent cells: one (tune, dataset, seed) each, with a stable index, so that a
 * cluster can run them as the tasks of a job array and a later `milec sweep --collect` merges
 * whatever finished into the usual reports.
 *
 * The index is dataset-major, then seed, then tune, in the order the command line gave them:
 *
 *     index = (dataset · seeds + seed) · tunes + tune
 *
 * so `--data a,b --seeds 0,1 --tunes x,y` numbers (a,0,x)=0 (a,0,y)=1 (a,1,x)=2 … (b,1,y)=7,
 * and a local sweep runs the cells in index order, which is the order `milec sweep` always ran
 * its tunes in. The same command line always gives the same numbering.
 *
 * On disk, under the sweep's `--out` folder:
 *
 *     sweep-plan.json      the cells and the settings' fingerprint (written by whoever runs first)
 *     cells/N.json         cell N's result, written atomically when it finished
 *     cells/N.error.json   why cell N failed, when it failed with an error (not when it was killed)
 *     logs/cell-N.log      its output on Slurm (the array task's log)
 *     [<data>/][seed-<s>/]<tune>/   its checkpoint and adapter folder, as `milec sweep` writes them
 *
 * A result is only reused by a sweep with the same fingerprint (the .mile file's text and every
 * setting that changes a result), so a changed command line cannot pick up stale cells.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic.ts';
import type { SweepBaseline, SweepRow } from './report.ts';

/** One unit of a sweep: a tune trained on one dataset from one seed. */
export interface SweepCell {
  readonly index: number;
  readonly tune: string;
  readonly data: string;
  readonly seed: number;
}

/** What a sweep runs, as the first cell (or the submitting command) recorded it in `sweep-plan.json`. */
export interface SweepPlan {
  readonly version: 1;
  /** The .mile file, as given on the command line. */
  readonly source: string;
  /** sha256 over the file's text and the settings that change a result (`sweepFingerprint`). */
  readonly fingerprint: string;
  readonly tunes: readonly string[];
  readonly datasets: readonly string[];
  readonly seeds: readonly number[];
  readonly cells: readonly SweepCell[];
  /** What the report's header says the sweep trained and evaluated on. */
  readonly evalData?: string;
  readonly weights?: string;
}

/** Timings of one cell in seconds: compiling (front end, kernels, pipelines), training, evaluating, and all of it. */
export interface CellSeconds {
  readonly compile: number;
  readonly train: number;
  readonly eval: number;
  readonly total: number;
}

/** `cells/N.json`: a finished cell. */
export interface CellResult {
  readonly index: number;
  readonly tune: string;
  readonly data: string;
  readonly seed: number;
  readonly fingerprint: string;
  /** The adapter the cell ran on (`ctx.description`). */
  readonly device: string;
  /** Its row of the report, with its loss per step. */
  readonly row: SweepRow;
  readonly diverged: boolean;
  readonly seconds: CellSeconds;
  /** The question prior on the cell's eval items (runtime/sweep/baseline.ts), when the data has answers. */
  readonly baseline?: SweepBaseline;
  /** Where its checkpoint and adapter folder are, relative to the sweep's folder. */
  readonly dir: string;
  /** The Slurm job that ran it (`SLURM_JOB_ID`, or `ARRAY_JOB_ID_TASK`), when one did. */
  readonly slurmJob?: string;
}

/** `cells/N.error.json`: a cell whose run ended in an error (a killed task leaves only its log). */
export interface CellFailure {
  readonly index: number;
  readonly fingerprint: string;
  readonly error: string;
}

/** Every cell of `tunes × datasets × seeds`, in index order (see the module comment). */
export function sweepCells(tunes: readonly string[], datasets: readonly string[], seeds: readonly number[]): SweepCell[] {
  const cells: SweepCell[] = [];
  for (const data of datasets) for (const seed of seeds) for (const tune of tunes) cells.push({ index: cells.length, tune, data, seed });
  return cells;
}

/** A dataset spec as a folder name (`vqa-rad:/data/x` → `vqa-rad_data_x`). */
export const dataFolder = (data: string) => data.replace(/[^A-Za-z0-9._-]+/g, '_');

/**
 * The folder a cell's tunes checkpoint under (its tune's own folder is `<this>/<tune>`): the
 * sweep's folder for one dataset and one seed, as `milec sweep` always wrote it; `<data>/` when
 * the sweep crosses several datasets, `seed-<s>/` when several seeds.
 */
export function cellGroupDir(out: string, cell: SweepCell, plan: Pick<SweepPlan, 'datasets' | 'seeds'>): string {
  let dir = out;
  if (plan.datasets.length > 1) dir = join(dir, dataFolder(cell.data));
  if (plan.seeds.length > 1) dir = join(dir, `seed-${cell.seed}`);
  return dir;
}

/**
 * The fingerprint of a sweep: the .mile file's text and the settings that change what a cell
 * computes, in a fixed key order (undefined settings left out).
 */
export function sweepFingerprint(sourceText: string, settings: Readonly<Record<string, unknown>>): string {
  const h = createHash('sha256').update(sourceText).update('\0');
  for (const k of Object.keys(settings).sort()) {
    const v = settings[k];
    if (v === undefined) continue;
    h.update(`${k}=${JSON.stringify(v instanceof Map ? [...v.entries()] : v)}\n`);
  }
  return h.digest('hex').slice(0, 16);
}

export const PLAN_FILE = 'sweep-plan.json';
export const cellResultPath = (out: string, index: number) => join(out, 'cells', `${index}.json`);
export const cellFailurePath = (out: string, index: number) => join(out, 'cells', `${index}.error.json`);
/** The log of a cell's array task; the sbatch script's `--output` names the same file. */
export const cellLogPath = (out: string, index: number) => join(out, 'logs', `cell-${index}.log`);

/** An error about the files of a sweep folder: which file, and why. */
export class SweepFolderError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'SweepFolderError';
  }
}

function readJson<T>(path: string, what: string): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SweepFolderError(path, `cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new SweepFolderError(path, `${what} is not valid JSON (${(e as Error).message})`);
  }
}

/** The plan of the sweep in `out`; an error naming the file when there is none or it is damaged. */
export function readPlan(out: string): SweepPlan {
  const path = join(out, PLAN_FILE);
  if (!existsSync(path)) throw new SweepFolderError(path, `not found: ${out} holds no sweep (milec sweep writes ${PLAN_FILE} first)`);
  const plan = readJson<SweepPlan>(path, 'the sweep plan');
  if (plan.version !== 1 || !Array.isArray(plan.cells) || typeof plan.fingerprint !== 'string')
    throw new SweepFolderError(path, 'not a sweep plan of this milec version (expected version 1 with cells and a fingerprint)');
  return plan;
}

/**
 * Records `plan` in `out`. A command that runs or submits the whole sweep replaces the plan of an
 * earlier sweep there (`replace`; that sweep's cells no longer count, as their fingerprint
 * differs). One cell (`--cell`) only checks it: a plan of other settings means a newer sweep took
 * the folder, and the cell's result would not be part of it.
 */
export async function ensurePlan(out: string, plan: SweepPlan, replace: boolean): Promise<void> {
  const path = join(out, PLAN_FILE);
  if (!replace && existsSync(path)) {
    const old = readPlan(out);
    if (old.fingerprint === plan.fingerprint && old.cells.length === plan.cells.length) return;
    throw new SweepFolderError(
      path,
      `${out} holds a sweep with other settings or another .mile file (fingerprint ${old.fingerprint}, this cell's ${plan.fingerprint}); run the cell with the command line of that sweep, or use another --out`,
    );
  }
  mkdirSync(out, { recursive: true });
  await writeFileAtomic(path, JSON.stringify(plan, null, 2) + '\n');
}

/**
 * Cell `index`'s result when it is written and from this sweep (same fingerprint); undefined
 * otherwise: a result left by an earlier sweep with other settings is rerun and replaced.
 */
export function readCellResult(out: string, index: number, fingerprint: string): CellResult | undefined {
  const path = cellResultPath(out, index);
  if (!existsSync(path)) return undefined;
  const r = readJson<CellResult>(path, `cell ${index}'s result`);
  if (r.fingerprint !== fingerprint) return undefined;
  if (r.index !== index || !r.row) throw new SweepFolderError(path, `not the result of cell ${index}`);
  return r;
}

/** Writes a finished cell's result atomically (a reader sees all of it or none) and drops an old failure record. */
export async function writeCellResult(out: string, result: CellResult): Promise<void> {
  mkdirSync(join(out, 'cells'), { recursive: true });
  await writeFileAtomic(cellResultPath(out, result.index), JSON.stringify(result, null, 2) + '\n');
  await rm(cellFailurePath(out, result.index), { force: true });
}

export async function writeCellFailure(out: string, failure: CellFailure): Promise<void> {
  mkdirSync(join(out, 'cells'), { recursive: true });
  await writeFileAtomic(cellFailurePath(out, failure.index), JSON.stringify(failure, null, 2) + '\n');
}

/** The indices of `plan`'s cells that have no result in `out` yet (what a resubmission reruns). */
export function pendingCells(out: string, plan: SweepPlan): number[] {
  return plan.cells.filter((c) => readCellResult(out, c.index, plan.fingerprint) === undefined).map((c) => c.index);
}

/** The last `lines` lines of a file, or undefined when it cannot be read. */
export function tailOf(path: string, lines = 15): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  // Progress bars redraw with carriage returns: keep each line's last state.
  const all = text
    .split('\n')
    .map((l) => l.split('\r').pop()!)
    .filter((l, i, a) => l !== '' || i < a.length - 1);
  return all.slice(-lines).join('\n');
}
