/**
 * `milec sweep`: trains every tune of a file with the same data, seed and schedule, evaluates
 * each, and writes one comparison (sweep.md, sweep.csv, sweep.json, report.html).
 *
 * A sweep is a set of cells (tune × dataset × seed; runtime/sweep/cells.ts numbers them). The
 * command runs them all here, in one process (or `--parallel K` processes), one with `--cell N`
 * (or `SLURM_ARRAY_TASK_ID`), submits them to Slurm as a job array with `--on slurm`
 * (runtime/sweep/submit.ts), and merges whatever cells finished with `--collect OUT`
 * (runtime/sweep/collect.ts). Each cell writes `OUT/cells/N.json` when it finishes and skips
 * when it is there already. The training and evaluation of a tune are runtime/sweep/run.ts;
 * this file compiles, calls and prints.
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { compileFrontEnd } from '../compiler/pipeline.ts';
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import { planTraining } from '../compiler/cost/report.ts';
import { type ConfigOverrides, elaborate } from '../compiler/sema/elaborate.ts';
import { loadProgram } from '../compiler/sema/load.ts';
import { suggestion } from '../core/diagnostic.ts';
import { DataError } from '../runtime/data/index.ts';
import { type GpuContext, openDevice } from '../runtime/device.ts';
import { EvalError } from '../runtime/eval/vqa.ts';
import {
  type CellResult,
  cellGroupDir,
  ensurePlan,
  readCellResult,
  SweepFolderError,
  sweepCells,
  sweepFingerprint,
  type SweepPlan,
  writeCellFailure,
  writeCellResult,
} from '../runtime/sweep/cells.ts';
import { collectSweep } from '../runtime/sweep/collect.ts';
import { sweepMarkdown } from '../runtime/sweep/report.ts';
import { cellArgv, SlurmConfigError, type SlurmSettings } from '../runtime/sweep/slurm.ts';
import { runCellProcesses, SubmitError, submitToSlurm } from '../runtime/sweep/submit.ts';
import { fileHost } from '../runtime/source-files.ts';
import { type CompiledTune, Sweep, sweepDatasets, type SweepSettings, type TuneHooks, writeSweepReports } from '../runtime/sweep/run.ts';
import { describeOptimizer } from '../runtime/train-setup.ts';
import { WeightsError } from '../runtime/weights.ts';
import { type StartingWeights, startingWeights, weightsNote, withWeightsOrigin } from '../runtime/starting-weights.ts';
import { report } from './compile.ts';
import { tunePictures } from './plan.ts';
import { asUserError, boundSizes, UserError } from './errors.ts';
import { progressBar, withProgress } from './progress.ts';

/** The training options a sweep shares with `milec train`, plus its own. */
export interface SweepCliOptions extends SweepSettings, SlurmSettings {
  /** PEFT methods of `--plugin` files, with the built-ins (built-ins only when absent). */
  registry?: MethodRegistry;
  plugin?: string[];
  model?: string;
  config?: ConfigOverrides;
  dim?: string[];
  json?: boolean;
  software?: boolean;
  tunes?: string;
  /** `--seeds a,b`: a cell per seed (default: `--seed` alone). */
  seeds?: number[];
  /** `--cell N`: run this cell only. */
  cell?: number;
  /** `--collect OUT`: merge the cells of the sweep in OUT; no file needed. */
  collect?: string;
  /** `--on slurm`: submit the cells as a job array instead of running them. */
  on?: 'slurm';
  slurmConfig?: string;
  dryRun?: boolean;
  /** The command line after `milec sweep`, which array tasks and `--parallel` processes rerun with `--cell N`. */
  argv?: readonly string[];
}

const log = (s: string) => process.stderr.write(s + '\n');

export async function sweepCommand(file: string | undefined, cli: SweepCliOptions): Promise<number> {
  try {
    checkCombination(cli);
    if (cli.collect !== undefined) {
      if (file !== undefined)
        throw new UserError(`--collect ${cli.collect} reads the sweep's own plan: give no .mile file with it (got ${file})`);
      return await writeCollected(cli.collect, cli);
    }
    if (file === undefined) throw new UserError('missing the .mile file to sweep (or --collect OUT to merge a sweep that ran as cells)');
    const planned = planSweep(file, cli);
    if (planned === undefined) return 1;
    if (cli.on === 'slurm') return await submitCommand(planned.plan, cli);
    const cell = cellIndex(cli, planned.plan);
    if (cell !== undefined) return await runCellsHere(file, planned, [cell], cli);
    if (cli.parallel !== undefined && cli.parallel > 1) return await runInProcesses(planned.plan, cli);
    return await runCellsHere(
      file,
      planned,
      planned.plan.cells.map((c) => c.index),
      cli,
    );
  } catch (e) {
    throw asUserError(e, [SweepFolderError, SlurmConfigError, SubmitError]);
  }
}

/** The submit-only flags (`--partition`, …) need `--on slurm`; `--cell` and `--collect` exclude it and each other. */
function checkCombination(cli: SweepCliOptions): void {
  const slurmOnly: [string, unknown][] = [
    ['--partition', cli.partition],
    ['--account', cli.account],
    ['--gpus-per-cell', cli.gpusPerCell],
    ['--time', cli.time],
    ['--sbatch-arg', cli.sbatchArgs?.length ? cli.sbatchArgs : undefined],
    ['--slurm-config', cli.slurmConfig],
    ['--dry-run', cli.dryRun],
  ];
  if (cli.on === undefined)
    for (const [flag, v] of slurmOnly) if (v !== undefined) throw new UserError(`${flag} is an option of --on slurm, which is not given`);
  const modes = [cli.on && `--on ${cli.on}`, cli.cell !== undefined && '--cell', cli.collect !== undefined && '--collect'].filter(Boolean);
  if (modes.length > 1) throw new UserError(`${modes.join(' and ')} do not go together: each is a way to run the sweep`);
}

/**
 * The cell to run alone: `--cell N`, else `SLURM_ARRAY_TASK_ID` when set. The variable is read
 * only without `--on` (a submission from inside an array task submits the whole sweep) and is
 * named in the note and in any error, so a whole sweep started inside someone else's array task
 * says what happened (unset the variable to run every cell there).
 */
function cellIndex(cli: SweepCliOptions, plan: SweepPlan): number | undefined {
  let index = cli.cell;
  let from = '--cell';
  const env = process.env.SLURM_ARRAY_TASK_ID;
  if (index === undefined && env !== undefined && env !== '') {
    index = Number(env);
    from = 'SLURM_ARRAY_TASK_ID';
    if (!Number.isInteger(index) || index < 0) throw new UserError(`SLURM_ARRAY_TASK_ID is "${env}", not a cell index`);
    if (!cli.json) log(`milec sweep: cell ${index} (from SLURM_ARRAY_TASK_ID; unset it to run every cell)`);
  }
  if (index !== undefined && index >= plan.cells.length)
    throw new UserError(
      `${from} ${index}: the sweep has ${plan.cells.length} cells (0–${plan.cells.length - 1}: ${plan.tunes.length} tunes × ${plan.datasets.length} datasets × ${plan.seeds.length} seeds)`,
    );
  return index;
}

interface PlannedSweep {
  readonly plan: SweepPlan;
  /** Where every tune starts: `--weights`, else the model's `weights { ... }`, else random values. */
  readonly start: StartingWeights;
}

/** The sweep's cells and fingerprint; undefined when the file has errors (printed). */
function planSweep(file: string, cli: SweepCliOptions): PlannedSweep | undefined {
  const swept = tunesToSweep(file, cli);
  if (swept === undefined) return undefined;
  // Every tune starts from the same weights: `--weights`, else the model's `weights { ... }`
  // (read from the elaborated model: no tune is lowered twice).
  const { loaded } = swept;
  const modelName = cli.model ?? loaded.program!.tunes.find((t) => t.name.name === swept.tunes[0])!.model.name;
  const elaborated = elaborate(loaded.program!, modelName, undefined, cli.config);
  if (report({ result: elaborated.model, diagnostics: elaborated.diagnostics, sources: loaded.sources })) return undefined;
  const start = startingWeights(cli, elaborated.model!);
  const datasets = sweepDatasets(cli.data);
  const seeds = cli.seeds?.length ? [...new Set(cli.seeds)] : [cli.seed];
  // Every setting that changes what a cell computes; the output and progress options do not.
  const settings = {
    tunes: swept.tunes,
    datasets,
    seeds,
    model: cli.model,
    config: cli.config,
    vocab: cli.vocab,
    evalData: cli.evalData,
    steps: cli.steps,
    batch: cli.batch,
    lr: cli.lr,
    schedule: cli.schedule,
    warmup: cli.warmup,
    weightDecay: cli.weightDecay,
    dim: cli.dim,
    beams: cli.beams,
    weights: cli.weights,
    weightsMap: cli.weightsMap,
    allowMissing: cli.allowMissing,
    plugin: cli.plugin?.length ? cli.plugin : undefined,
  };
  const plan: SweepPlan = {
    version: 1,
    source: file,
    fingerprint: sweepFingerprint(readFileSync(file, 'utf8'), settings),
    tunes: swept.tunes,
    datasets,
    seeds,
    cells: sweepCells(swept.tunes, datasets, seeds),
    evalData: cli.evalData,
    weights: start.weights,
  };
  return { plan, start };
}

/**
 * Runs `indices` here, in one process on one device, skipping cells whose result is written.
 * The whole sweep (every index) then collects the reports and prints the table; one cell prints
 * its row. Cells of one dataset and seed share the data, backbone and eval items.
 */
async function runCellsHere(file: string, planned: PlannedSweep, indices: number[], cli: SweepCliOptions): Promise<number> {
  const { plan, start } = planned;
  const whole = indices.length === plan.cells.length;
  await ensurePlan(cli.out, plan, whole);
  const todo = indices.filter((i) => {
    const done = readCellResult(cli.out, i, plan.fingerprint);
    if (done) printSkipped(done, cli);
    return !done;
  });
  if (todo.length > 0) {
    const o: SweepCliOptions = { ...cli, weights: start.weights, weightsMap: start.weightsMap };
    const ctx = await openDevice({ preferSoftware: o.software });
    try {
      if (!o.json) log(header(plan, todo, o, start, ctx));
      if ((await runCells(file, plan, todo, o, ctx)) !== 0) return 1;
    } catch (e) {
      throw asUserError(withWeightsOrigin(e, start), [DataError, WeightsError, EvalError]);
    } finally {
      ctx.close();
    }
  }
  if (!whole) return 0;
  return await writeCollected(cli.out, cli);
}

/** `milec sweep: 3 tunes × 2 datasets × 80 steps on <adapter>, from <weights>`. */
function header(plan: SweepPlan, todo: number[], o: SweepCliOptions, start: StartingWeights, ctx: GpuContext): string {
  const what =
    todo.length === 1 && plan.cells.length > 1
      ? `cell ${todo[0]} of ${plan.cells.length}`
      : `${plan.tunes.length} tunes${plan.datasets.length > 1 ? ` × ${plan.datasets.length} datasets` : ''}${plan.seeds.length > 1 ? ` × ${plan.seeds.length} seeds` : ''}`;
  return (
    `milec sweep: ${what} × ${o.steps} steps on ${ctx.description}` +
    (o.weights ? `, from ${o.weights}${weightsNote(start)}` : ', from random initial values')
  );
}

/**
 * Trains and evaluates each cell of `todo` (in index order) and writes its result. A cell that
 * throws records why (cells/N.error.json) before the error ends the command.
 */
async function runCells(file: string, plan: SweepPlan, todo: number[], o: SweepCliOptions, ctx: GpuContext): Promise<number> {
  let sweep: Sweep | undefined;
  let group = '';
  for (const index of todo) {
    const cell = plan.cells[index]!;
    const dir = cellGroupDir(o.out, cell, plan);
    // Cells of one dataset and seed are consecutive, and share what Sweep reads once.
    if (dir !== group || !sweep) {
      if (plan.datasets.length > 1 && !o.json && cell.data !== sweep?.o.data) log(`  data ${cell.data}`);
      sweep = new Sweep(ctx, { ...o, data: cell.data, seed: cell.seed, out: dir });
      group = dir;
    }
    try {
      const compiled = compileTune(file, cell.tune, o);
      if (compiled === undefined) {
        await writeCellFailure(o.out, { index, fingerprint: plan.fingerprint, error: `${cell.tune} does not compile (see the log)` });
        return 1;
      }
      const result = await sweep.runTune(compiled, tuneHooks(cell.tune, o));
      const seconds = { ...result.seconds, total: (performance.now() - compiled.startedAt) / 1000 };
      const baseline = sweep.baseline();
      const slurmJob = slurmJobName();
      const cellResult: CellResult = {
        index,
        tune: cell.tune,
        data: cell.data,
        seed: cell.seed,
        fingerprint: plan.fingerprint,
        device: ctx.description,
        row: result.row,
        diverged: result.diverged,
        seconds,
        ...(baseline ? { baseline } : {}),
        dir: relative(o.out, resolve(dir, cell.tune)) || '.',
        ...(slurmJob ? { slurmJob } : {}),
      };
      await writeCellResult(o.out, cellResult);
      printCell(cellResult, o);
    } catch (e) {
      await writeCellFailure(o.out, { index, fingerprint: plan.fingerprint, error: (e as Error).message ?? String(e) });
      throw e;
    }
  }
  return 0;
}

/** `12_3` inside array task 3 of job 12, the job id in any other job, undefined outside Slurm. */
function slurmJobName(): string | undefined {
  const { SLURM_ARRAY_JOB_ID: array, SLURM_ARRAY_TASK_ID: task, SLURM_JOB_ID: job } = process.env;
  return array && task ? `${array}_${task}` : job;
}

/** `--parallel K` without `--on`: K processes here, each running cells with `--cell N`, then the reports. */
async function runInProcesses(plan: SweepPlan, cli: SweepCliOptions): Promise<number> {
  await ensurePlan(cli.out, plan, true);
  const todo = plan.cells.map((c) => c.index).filter((i) => !readCellResult(cli.out, i, plan.fingerprint));
  if (!cli.json)
    log(`milec sweep: ${todo.length} of ${plan.cells.length} cells to run, ${cli.parallel} at a time (logs in ${cli.out}/logs/)`);
  const failed = await runCellProcesses(cellCommandLine(cli), cli.out, todo, cli.parallel!, (i, code) => {
    if (!cli.json) log(`  cell ${i} (${plan.cells[i]!.tune}): ${code === 0 ? 'done' : `failed (exit ${code})`}`);
  });
  const code = await writeCollected(cli.out, cli);
  return failed.length ? 1 : code;
}

/** The command line of one cell, after `milec sweep`: the user's, without the submit-only options. */
function cellCommandLine(cli: SweepCliOptions): string[] {
  if (!cli.argv) throw new Error('sweepCommand: argv is needed to run cells in other processes');
  return cellArgv(cli.argv);
}

/** `--on slurm`: writes the two batch scripts and submits them (`--dry-run`: only writes them). */
async function submitCommand(plan: SweepPlan, cli: SweepCliOptions): Promise<number> {
  await ensurePlan(cli.out, plan, true);
  const submitted = await submitToSlurm(plan, cellCommandLine(cli), cli);
  if (cli.json) process.stdout.write(JSON.stringify(submitted) + '\n');
  else {
    const cells = `${submitted.cells.length} of ${plan.cells.length} cells`;
    if (submitted.cells.length === 0) log(`milec sweep: every cell of ${cli.out} has its result; nothing to submit (collecting)`);
    else if (cli.dryRun)
      log(
        `milec sweep: wrote ${submitted.script} (${cells}) and ${submitted.collectScript}; submit with:\n  ${submitted.commands.join('\n  ')}`,
      );
    else
      log(
        `milec sweep: submitted array job ${submitted.arrayJob} (${cells}) and collect job ${submitted.collectJob} (after it); logs in ${cli.out}/logs/, reports in ${cli.out} when the collect job ends`,
      );
  }
  if (submitted.cells.length === 0) return await writeCollected(cli.out, cli);
  return 0;
}

/**
 * Collects the cells in `out` (`--collect OUT`, and the end of a local sweep), writes the four
 * reports and prints the table (or one JSON line). Missing and failed cells are listed, not an error.
 */
async function writeCollected(out: string, cli: Pick<SweepCliOptions, 'json'>): Promise<number> {
  const { report: rep, missing, results, plan } = collectSweep(out);
  // Each tune's model picture for report.html, drawn from the sweep's source as it is now.
  await writeSweepReports(out, rep, await tunePictures(plan.source, plan.tunes));
  if (cli.json)
    process.stdout.write(
      JSON.stringify({
        done: true,
        tunes: results.length,
        cells: rep.cells,
        missing: missing.map((m) => ({ ...m, logTail: undefined })),
        out,
      }) + '\n',
    );
  else {
    process.stdout.write(sweepMarkdown(rep) + `\nwrote sweep.md, sweep.csv, sweep.json and report.html to ${out}\n`);
    if (missing.length) log(`milec sweep: ${missing.length} of ${rep.cells!.total} cells have no result (listed in sweep.md)`);
  }
  return 0;
}

/**
 * The tunes of `--tunes` (all of the file's without it), each checked to exist, and the loaded
 * program; undefined when the file has errors (printed).
 */
function tunesToSweep(file: string, o: SweepCliOptions): { tunes: string[]; loaded: ReturnType<typeof loadProgram> } | undefined {
  const loaded = loadProgram(fileHost(), file);
  if (report({ result: loaded.program, diagnostics: loaded.diagnostics, sources: loaded.sources })) return undefined;
  const all = loaded.program!.tunes.map((t) => t.name.name);
  const tunes = o.tunes
    ? o.tunes
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean)
    : all;
  for (const t of tunes) {
    if (!all.includes(t))
      throw new UserError(`no tune named \`${t}\` in ${file}${suggestion(t, all).help ? ` (${suggestion(t, all).help})` : ''}`);
  }
  if (tunes.length === 0) throw new UserError(`${file} declares no tunes to sweep`);
  return { tunes, loaded };
}

/** The front end of `tune`, its sizes and predicted memory; undefined when it has errors (printed). */
function compileTune(file: string, tune: string, o: SweepCliOptions): CompiledTune | undefined {
  const startedAt = performance.now();
  const fe = compileFrontEnd({ host: fileHost(), file, tune, model: o.model, training: true, registry: o.registry, config: o.config });
  if (report(fe)) return undefined;
  const bindings = boundSizes(fe.result!.train!, { batch: o.batch, dims: o.dim });
  const predictedPeakBytes = planTraining(fe.result!, { bindings }).memory.peakBytes;
  return {
    tune,
    source: file,
    frontEnd: fe.result!,
    bindings,
    evalBindings: boundSizes(fe.result!.infer, { dims: o.dim }),
    predictedPeakBytes,
    startedAt,
  };
}

/** A tune's progress: the weight loader's notes, a training bar and an evaluation bar on a terminal. */
function tuneHooks(tune: string, o: SweepCliOptions): TuneHooks {
  const bar = progressBar(`  ${tune.padEnd(20)} {bar} {value}/{total} | loss {loss} | ETA {eta_formatted}`, o);
  return {
    note: o.json ? undefined : (n) => log(`  ${n}`),
    trainStart: (steps) => bar?.start(steps, 0, { loss: '-' }),
    trainStep: (done, loss) => bar?.update(done, { loss: loss.toFixed(4) }),
    trainEnd: () => bar?.stop(),
    evaluating: (items, run) => withProgress(`${tune.padEnd(20)} evaluating`, items, { json: o.json || !process.stderr.isTTY }, run),
  };
}

/** One JSON line per cell with `--json` (the row: its optimizer settings among its fields), else one line on stderr. */
function printCell({ row, diverged, seconds, index, seed }: CellResult, o: SweepCliOptions, skipped = false): void {
  const { losses } = row;
  if (o.json)
    process.stdout.write(
      JSON.stringify({
        ...row,
        losses: undefined,
        cell: index,
        seed,
        lossFirst: losses[0],
        lossLast: losses[losses.length - 1],
        diverged,
        seconds,
        ...(skipped ? { skipped } : {}),
      }) + '\n',
    );
  else
    log(
      `  ${row.tune}${row.lr === undefined ? '' : ` (${describeOptimizer({ ...row, lr: row.lr })})`}: loss ${losses[0]?.toFixed(3)} -> ${losses[losses.length - 1]?.toFixed(3)}${diverged ? ' (diverged)' : ''}, global ${row.global === undefined ? '–' : (100 * row.global).toFixed(1) + '%'}, ${row.msPerStep.toFixed(0)} ms/step; ` +
        (skipped
          ? `cell ${index} done already (cells/${index}.json), skipped`
          : `${seconds.compile.toFixed(1)} s compiling, ${seconds.train.toFixed(1)} s training, ${seconds.eval.toFixed(1)} s evaluating`),
    );
}

function printSkipped(done: CellResult, o: SweepCliOptions): void {
  printCell(done, o, true);
}
