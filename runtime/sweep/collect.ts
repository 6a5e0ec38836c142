/**
 * `milec sweep --collect OUT`, and the last step of every local sweep: the cells that finished
 * (cells/N.json) become the report's rows, in cell order; the others are listed as failed (an
 * error record, or a log without a result: the task was killed, timed out or crashed) or missing
 * (never started), each with the tail of its log. Collecting never fails on missing cells.
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  cellFailurePath,
  cellLogPath,
  type CellFailure,
  type CellResult,
  readCellResult,
  readPlan,
  type SweepPlan,
  tailOf,
} from './cells.ts';
import type { MissingCell, SweepBaseline, SweepReport, SweepRow } from './report.ts';
import { sweepReport } from './run.ts';

/** What a collect found: the report, and the cells behind it. */
export interface Collected {
  readonly report: SweepReport;
  readonly plan: SweepPlan;
  readonly results: readonly CellResult[];
  readonly missing: readonly MissingCell[];
}

/** Merges the cells of the sweep in `out` (its plan says which there are) into one report. */
export function collectSweep(out: string): Collected {
  const plan = readPlan(out);
  const results: CellResult[] = [];
  const missing: MissingCell[] = [];
  for (const cell of plan.cells) {
    const r = readCellResult(out, cell.index, plan.fingerprint);
    if (r) results.push(r);
    else missing.push(missingCell(out, plan, cell.index));
  }
  const rows: SweepRow[] = results.map((r) => (plan.seeds.length > 1 ? { ...r.row, seed: r.seed } : r.row));
  const devices = [...new Set(results.map((r) => r.device))];
  const report = sweepReport(
    plan.source,
    { data: plan.datasets.join(','), evalData: plan.evalData, weights: plan.weights },
    devices.length ? devices.join('; ') : 'no cell finished',
    rows,
    baselineOf(plan, results),
  );
  const cells = { total: plan.cells.length, done: results.length };
  return { report: missing.length ? { ...report, cells, missing } : { ...report, cells }, plan, results, missing };
}

/**
 * The report's baseline: the first dataset's (at the first seed), as a local sweep always had it;
 * every cell of that dataset and seed computed the same one, so the first that finished gives it.
 */
function baselineOf(plan: SweepPlan, results: readonly CellResult[]): SweepBaseline | undefined {
  const first = results.find((r) => r.data === plan.datasets[0] && r.seed === plan.seeds[0] && r.baseline);
  if (!first?.baseline) return undefined;
  return plan.datasets.length > 1 ? { ...first.baseline, data: first.data } : first.baseline;
}

/** Why cell `index` has no result: its error record, else its log's tail (it started), else never started. */
function missingCell(out: string, plan: SweepPlan, index: number): MissingCell {
  const cell = plan.cells[index]!;
  const log = cellLogPath(out, index);
  const logTail = tailOf(log);
  const failurePath = cellFailurePath(out, index);
  const base = { index, tune: cell.tune, data: cell.data, seed: cell.seed, ...(logTail !== undefined ? { logTail } : {}) };
  if (existsSync(failurePath)) {
    const f = readFailure(failurePath);
    if (typeof f === 'string') return { ...base, status: 'failed', reason: f };
    if (f.fingerprint === plan.fingerprint) return { ...base, status: 'failed', reason: f.error };
  }
  if (logTail !== undefined) return { ...base, status: 'failed', reason: `no result: its task ended without writing one (log: ${log})` };
  return { ...base, status: 'missing', reason: 'not run (no result and no log)' };
}

/** An error record, or what is wrong with it (a collect reports a damaged record rather than failing on it). */
function readFailure(path: string): CellFailure | string {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CellFailure;
  } catch (e) {
    return `its error record ${path} cannot be read (${(e as Error).message})`;
  }
}
