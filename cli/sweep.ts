/**
 * `milec sweep`: trains every tune of a file with the same data, seed and schedule, evaluates
 * each, and writes one comparison (sweep.md, sweep.csv, sweep.json, report.html). The
 * training and evaluation of a tune are runtime/sweep/run.ts; this file compiles, calls and prints.
 */
import { compileFrontEnd } from '../compiler/pipeline.ts';
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import { planTraining } from '../compiler/cost/report.ts';
import { elaborate } from '../compiler/sema/elaborate.ts';
import { loadProgram } from '../compiler/sema/load.ts';
import { suggestion } from '../core/diagnostic.ts';
import { DataError } from '../runtime/data/index.ts';
import { openDevice } from '../runtime/device.ts';
import { EvalError } from '../runtime/eval/vqa.ts';
import { type SweepBaseline, type SweepRow, sweepMarkdown } from '../runtime/sweep/report.ts';
import { fileHost } from '../runtime/source-files.ts';
import { join } from 'node:path';
import {
  type CompiledTune,
  Sweep,
  sweepDatasets,
  sweepReport,
  type SweepSettings,
  type TuneHooks,
  type TuneResult,
  writeSweepReports,
} from '../runtime/sweep/run.ts';
import { describeOptimizer } from '../runtime/train-setup.ts';
import { WeightsError } from '../runtime/weights.ts';
import { startingWeights, weightsNote, withWeightsOrigin } from '../runtime/starting-weights.ts';
import { report } from './compile.ts';
import { asUserError, boundSizes, UserError } from './errors.ts';
import { progressBar, withProgress } from './progress.ts';

/** The training options a sweep shares with `milec train`, plus its own. */
export interface SweepCliOptions extends SweepSettings {
  /** PEFT methods of `--plugin` files, with the built-ins (built-ins only when absent). */
  registry?: MethodRegistry;
  model?: string;
  dim?: string[];
  json?: boolean;
  software?: boolean;
  tunes?: string;
}

export async function sweepCommand(file: string, cli: SweepCliOptions): Promise<number> {
  const swept = tunesToSweep(file, cli);
  if (swept === undefined) return 1;
  const { tunes, loaded } = swept;
  // Every tune starts from the same weights: `--weights`, else the model's `weights { ... }`
  // (read from the elaborated model: no tune is lowered twice).
  const modelName = cli.model ?? loaded.program!.tunes.find((t) => t.name.name === tunes[0])!.model.name;
  const elaborated = elaborate(loaded.program!, modelName);
  if (report({ result: elaborated.model, diagnostics: elaborated.diagnostics, sources: loaded.sources })) return 1;
  const start = startingWeights(cli, elaborated.model!);
  const o: SweepCliOptions = { ...cli, weights: start.weights, weightsMap: start.weightsMap };
  const log = (s: string) => process.stderr.write(s + '\n');
  const ctx = await openDevice({ preferSoftware: o.software });
  // `--data a,b`: every tune on each dataset, dataset-major (all tunes on a, then on b); each
  // dataset's tunes checkpoint to `out/<data>/<tune>/`, and the baseline is the first dataset's.
  const datasets = sweepDatasets(o.data);
  const rows: SweepRow[] = [];
  let baseline: SweepBaseline | undefined;
  try {
    if (!o.json)
      log(
        `milec sweep: ${tunes.length} tunes${datasets.length > 1 ? ` × ${datasets.length} datasets` : ''} × ${o.steps} steps on ${ctx.description}` +
          (o.weights ? `, from ${o.weights}${weightsNote(start)}` : ', from random initial values'),
      );
    for (const data of datasets) {
      const several = datasets.length > 1;
      if (several && !o.json) log(`  data ${data}`);
      const sweep = new Sweep(ctx, several ? { ...o, data, out: join(o.out, data.replace(/[^A-Za-z0-9._-]+/g, '_')) } : o);
      for (const tune of tunes) {
        const compiled = compileTune(file, tune, o);
        if (compiled === undefined) return 1;
        const result = await sweep.runTune(compiled, tuneHooks(tune, o, log));
        rows.push(result.row);
        printTune(result, o, log);
      }
      if (baseline === undefined) {
        const b = sweep.baseline();
        baseline = b && several ? { ...b, data } : b;
      }
    }
  } catch (e) {
    throw asUserError(withWeightsOrigin(e, start), [DataError, WeightsError, EvalError]);
  } finally {
    ctx.close();
  }
  const rep = sweepReport(file, o, ctx.description, rows, baseline);
  writeSweepReports(o.out, rep);
  if (o.json) process.stdout.write(JSON.stringify({ done: true, tunes: rows.length, out: o.out }) + '\n');
  else process.stdout.write(sweepMarkdown(rep) + `\nwrote sweep.md, sweep.csv, sweep.json and report.html to ${o.out}\n`);
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
  const fe = compileFrontEnd({ host: fileHost(), file, tune, model: o.model, training: true, registry: o.registry });
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
function tuneHooks(tune: string, o: SweepCliOptions, log: (s: string) => void): TuneHooks {
  const bar = progressBar(`  ${tune.padEnd(20)} {bar} {value}/{total} | loss {loss} | ETA {eta_formatted}`, o);
  return {
    note: o.json ? undefined : (n) => log(`  ${n}`),
    trainStart: (steps) => bar?.start(steps, 0, { loss: '-' }),
    trainStep: (done, loss) => bar?.update(done, { loss: loss.toFixed(4) }),
    trainEnd: () => bar?.stop(),
    evaluating: (items, run) => withProgress(`${tune.padEnd(20)} evaluating`, items, { json: o.json || !process.stderr.isTTY }, run),
  };
}

/** One JSON line per tune with `--json` (the row: its optimizer settings among its fields), else one line on stderr. */
function printTune({ row, diverged, seconds }: TuneResult, o: SweepCliOptions, log: (s: string) => void): void {
  const { losses } = row;
  if (o.json)
    process.stdout.write(
      JSON.stringify({ ...row, losses: undefined, lossFirst: losses[0], lossLast: losses[losses.length - 1], diverged, seconds }) + '\n',
    );
  else
    log(
      `  ${row.tune}${row.lr === undefined ? '' : ` (${describeOptimizer({ ...row, lr: row.lr })})`}: loss ${losses[0]?.toFixed(3)} -> ${losses[losses.length - 1]?.toFixed(3)}${diverged ? ' (diverged)' : ''}, global ${row.global === undefined ? '–' : (100 * row.global).toFixed(1) + '%'}, ${row.msPerStep.toFixed(0)} ms/step; ${seconds.compile.toFixed(1)} s compiling, ${seconds.train.toFixed(1)} s training, ${seconds.eval.toFixed(1)} s evaluating`,
    );
}
