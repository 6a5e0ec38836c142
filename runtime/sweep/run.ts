/**
 * `milec sweep` on the device: each compiled tune trained from the same start (data, seed,
 * schedule, backbone), evaluated, and turned into its row of the comparison
 * (runtime/sweep/report.ts renders the rows). What every tune shares — the dataset, the
 * `--weights` backbone and the eval items — is read once, by the first tune that needs it.
 * Bad files surface as the runtime's own errors (`DataError`, `WeightsError`, `EvalError`).
 */
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../atomic.ts';
import { join } from 'node:path';
import type { Bindings } from '../../compiler/ir/specialize.ts';
import type { FrontEnd } from '../../compiler/pipeline.ts';
import type { Dataset } from '../data/index.ts';
import type { GpuContext } from '../device.ts';
import { openEvalSource } from '../eval/sources.ts';
import { type EvalSource, evaluateVqa } from '../eval/vqa.ts';
import { initialParams } from '../params.ts';
import { fitQuestionPrior, PRIOR_RULE, priorAccuracy, trainingQuestions } from './baseline.ts';
import {
  type Accuracies,
  accuracies,
  type SweepBaseline,
  type SweepReport,
  type SweepRow,
  sweepCsv,
  sweepHtml,
  sweepJson,
  sweepMarkdown,
} from './report.ts';
import {
  loadBackbone,
  type OptimizerSettings,
  openTrainData,
  parameterCounts,
  resolveOptimizer,
  saveTrainedAdapter,
  SWEEP_OPTIMIZER_DEFAULTS,
  trainConfig,
  type TrainSettings,
} from '../train-setup.ts';
import { NonFiniteLossError, Trainer } from '../train.ts';
import { checkpointModuleNames, type LoadedWeights } from '../weights.ts';

/**
 * The options of `milec sweep` the runtime reads: `milec train`'s training settings plus the
 * sweep's own. The optimizer settings are the command line's (undefined when not given): each
 * tune runs with them, else its own `optimizer { ... }`, else `SWEEP_OPTIMIZER_DEFAULTS`.
 */
export interface SweepSettings extends Omit<TrainSettings, keyof OptimizerSettings>, Partial<OptimizerSettings> {
  /** The folder of the reports; each tune's checkpoint goes to `out/<tune>/`. */
  readonly out: string;
  readonly beams: number;
  /** `--eval-data`; see `sweepEvalSpec` for the default. */
  readonly evalData?: string;
}

/** One tune as the compiler left it: what `Sweep.runTune` trains and evaluates. */
export interface CompiledTune {
  readonly tune: string;
  /** The `.mile` file, recorded in the checkpoint's metadata. */
  readonly source: string;
  readonly frontEnd: FrontEnd;
  /** Sizes of the training graph (`--batch`, `--dim`) and of the inference graph (`--dim`; B is the evaluation's own). */
  readonly bindings: Bindings;
  readonly evalBindings: Bindings;
  /** The training plan's predicted peak memory (compiler/cost/report.ts : planTraining). */
  readonly predictedPeakBytes: number;
  /** `performance.now()` when compiling the tune began: its compile time includes the front end. */
  readonly startedAt: number;
}

/** How a command follows a tune (progress bars, notes); every hook is optional. */
export interface TuneHooks {
  /** A note of the weight loader (interpolated tables, ignored keys), once for the sweep. */
  readonly note?: (line: string) => void;
  /** Before the first training step, after each (1-based count, loss), and when training ends, however it ends. */
  readonly trainStart?: (steps: number) => void;
  readonly trainStep?: (done: number, loss: number) => void;
  readonly trainEnd?: () => void;
  /** Runs the evaluation of `items` items, which reports its progress through `onProgress`. */
  readonly evaluating?: <T>(items: number, run: (onProgress?: (done: number) => void) => Promise<T>) => Promise<T>;
}

/** A tune's row, whether it diverged, and where its wall time went. */
export interface TuneResult {
  readonly row: SweepRow;
  readonly diverged: boolean;
  readonly seconds: { readonly compile: number; readonly train: number; readonly eval: number };
}

/**
 * Eval items of a sweep on a built-in synthetic set: enough that the 95 % intervals of two tunes
 * 10 points apart do not overlap (a Wilson interval spans at most ±4.4 points at 500 items).
 */
export const SWEEP_SYNTHETIC_EVAL_ITEMS = 500;

/** Items per forward of a sweep's evaluation (rows = items × beams). */
const SWEEP_EVAL_BATCH = 50;

/**
 * `--eval-data`, else SWEEP_SYNTHETIC_EVAL_ITEMS items of the eval split for the built-in
 * synthetic sets (`synthetic` means `synthetic-vqa`; a count given as `synthetic-vqa:N` is
 * kept), else the training data's own eval split. `o.data` is one dataset: a sweep over
 * `--data a,b` asks per dataset (`--eval-data` then applies to every one).
 */
export function sweepEvalSpec(o: Pick<SweepSettings, 'evalData' | 'data'>): string {
  if (o.evalData) return o.evalData;
  const data = o.data === 'synthetic' ? 'synthetic-vqa' : o.data;
  return /^synthetic-(vqa|instruction(-vqa)?)$/.test(data) ? `${data}:${SWEEP_SYNTHETIC_EVAL_ITEMS}` : data;
}

/** What the training of one tune leaves for its row. */
interface Trained {
  /** Destroyed: only its graph and plan are read. */
  readonly trainer: Trainer;
  readonly params: Map<string, Float32Array>;
  readonly losses: number[];
  readonly msPerStep: number;
  readonly diverged: boolean;
  /** `performance.now()` once the trainer was created: the end of the tune's compile time. */
  readonly t1: number;
  /** The optimizer settings it trained with (each the command line's, the tune's or the default). */
  readonly optimizer: OptimizerSettings;
}

/** The tunes of one sweep on one device, sharing the data, backbone and eval items. */
export class Sweep {
  private data: Dataset | undefined;
  private weights: LoadedWeights | undefined;
  private evalSource: EvalSource | undefined;
  /** The front end of the last tune run: what the baseline opens the eval items with when no tune got evaluated. */
  private frontEnd: FrontEnd | undefined;

  constructor(
    readonly ctx: GpuContext,
    readonly o: SweepSettings,
  ) {}

  /** Trains `compiled` for `o.steps` steps (a diverged tune is a result, not an error), evaluates it unless it diverged, and returns its row. */
  async runTune(compiled: CompiledTune, hooks: TuneHooks = {}): Promise<TuneResult> {
    const { tune, frontEnd } = compiled;
    this.frontEnd = frontEnd;
    // Every tune reads the same data, opened (files read, images decoded) once.
    this.data ??= openTrainData(this.o, frontEnd.model);
    const { trainer, params, losses, msPerStep, diverged, t1, optimizer } = await this.train(compiled, this.data, hooks);
    const measured = trainer.backend.plan.peakBytes;
    let acc: Accuracies = {};
    let t2 = performance.now();
    if (!diverged) {
      // The tunes share the model's inputs, so the eval items are read once too.
      const source = this.openEval(frontEnd);
      t2 = performance.now();
      const run = (onProgress?: (done: number) => void) =>
        evaluateVqa(this.ctx, frontEnd.infer, params, source, {
          beams: this.o.beams,
          // Few large batches: on a software adapter the per-dispatch cost dominates a tiny model's forward.
          itemsPerBatch: SWEEP_EVAL_BATCH,
          bindings: compiled.evalBindings,
          onProgress,
        });
      const evaluated = await (hooks.evaluating ? hooks.evaluating(source.items.length, run) : run());
      acc = accuracies(evaluated.accuracy);
    }
    const { totalParams: total, trainableParams: trainable } = parameterCounts(trainer.backend.graph);
    const row: SweepRow = {
      tune,
      data: this.o.data,
      trainableParams: trainable,
      totalParams: total,
      trainablePercent: (100 * trainable) / total,
      lr: optimizer.lr,
      schedule: optimizer.schedule,
      warmup: optimizer.warmup,
      weightDecay: optimizer.weightDecay,
      predictedPeakBytes: compiled.predictedPeakBytes,
      measuredPeakBytes: measured,
      msPerStep,
      steps: losses.length,
      open: acc.open,
      closed: acc.closed,
      global: acc.global,
      losses,
      open_ci: acc.open_ci,
      closed_ci: acc.closed_ci,
      global_ci: acc.global_ci,
      n_open: acc.n_open,
      n_closed: acc.n_closed,
      n_global: acc.n_global,
    };
    // Where a tune's wall time went: compiling (front end, kernels, pipelines), training, evaluating.
    const seconds = { compile: (t1 - compiled.startedAt) / 1000, train: (t2 - t1) / 1000, eval: (performance.now() - t2) / 1000 };
    return { row, diverged, seconds };
  }

  /**
   * The baseline row (runtime/sweep/baseline.ts): the question prior of the training data's
   * answers, scored on the eval items the tunes were scored on. Undefined before any tune ran,
   * or when the training data has no answers to count (the synthetic keyword task).
   */
  baseline(): SweepBaseline | undefined {
    if (!this.data || !this.frontEnd) return undefined;
    const prior = fitQuestionPrior(trainingQuestions(this.data, this.o) ?? []);
    if (!prior) return undefined;
    return { rule: PRIOR_RULE, trainItems: prior.trainItems, ...accuracies(priorAccuracy(prior, this.openEval(this.frontEnd).items)) };
  }

  /** The eval items, read once: the tunes share the model's inputs. */
  private openEval(frontEnd: FrontEnd): EvalSource {
    this.evalSource ??= openEvalSource(sweepEvalSpec(this.o), frontEnd.infer, frontEnd.model, this.o.seed, this.o.vocab);
    return this.evalSource;
  }

  /**
   * Creates the tune's trainer (its kernels and pipelines: the end of its compile time, `t1`),
   * starts it from the shared backbone and the seed, and trains it, checkpointing after the
   * last step to `out/<tune>/adapter.safetensors` and saving the adapter folder `out/<tune>/adapter/`
   * (unless it diverged). The trainer's GPU objects are freed on return.
   */
  private async train(compiled: CompiledTune, data: Dataset, hooks: TuneHooks): Promise<Trained> {
    const { o } = this;
    const { tune, frontEnd } = compiled;
    const optimizer = resolveOptimizer(o, frontEnd.tune.optimizer, SWEEP_OPTIMIZER_DEFAULTS);
    const cfg = trainConfig(
      { ...o, ...optimizer },
      {
        bindings: compiled.bindings,
        checkpointEvery: o.steps,
        evalBatches: 0,
        outDir: join(o.out, tune),
        metadata: { model: frontEnd.model.name, tune, source: compiled.source, seed: String(o.seed) },
      },
    );
    const trainer = await Trainer.create(this.ctx, frontEnd.train!, cfg);
    const t1 = performance.now();
    let losses: number[] = [];
    let msPerStep = NaN;
    let diverged = false;
    let params: Map<string, Float32Array>;
    try {
      // Every tune starts from the same backbone: drawn from the seed, or loaded (--weights,
      // read once: the tunes share the base parameters), which is how the study compares
      // placements on one pretrained model.
      if (o.weights && !this.weights) {
        this.weights = await loadBackbone(o, trainer.backend.graph);
        for (const n of this.weights?.notes ?? []) hooks.note?.(n);
      }
      params = initialParams(trainer.backend.graph, o.seed, this.weights?.values);
      trainer.load(params);
      mkdirSync(cfg.outDir, { recursive: true });
      hooks.trainStart?.(o.steps);
      try {
        const run = await trainer.run(data, {
          from: 0,
          to: o.steps,
          onStep: (done, loss) => {
            losses.push(loss);
            hooks.trainStep?.(done, loss);
          },
          checkpoint: { every: o.steps, path: join(cfg.outDir, 'adapter.safetensors') },
        });
        losses = run.losses;
        msPerStep = run.msPerStep;
      } catch (e) {
        // A diverged tune is a result of the sweep (its row says so), not the end of it.
        if (!(e instanceof NonFiniteLossError)) throw e;
        diverged = true;
        losses.push(NaN);
      } finally {
        hooks.trainEnd?.();
      }
      if (diverged) for (const [k, v] of await trainer.trainedParams()) params.set(k, v);
      // The tune's adapter folder (`out/<tune>/adapter/`), as `milec train` writes it.
      else {
        // With --weights, the adapter names modules as the backbone's file does (as milec train's).
        const start = { params, step: 0, notes: [], ...(this.weights ? { moduleNames: checkpointModuleNames(this.weights) } : {}) };
        params = (await saveTrainedAdapter(trainer, frontEnd, start, { out: cfg.outDir, weights: o.weights })).params;
      }
    } finally {
      trainer.destroy();
    }
    return { trainer, params, losses, msPerStep, diverged, t1, optimizer };
  }
}

/** The datasets of `--data a,b,…` (a sweep crosses each with every tune); one for a plain spec. */
export function sweepDatasets(data: string): string[] {
  const specs = data
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  return specs.length ? specs : [data];
}

/** The comparison of a sweep over `source`: its rows, what it trained and evaluated on, and where. */
export function sweepReport(
  source: string,
  o: Pick<SweepSettings, 'data' | 'evalData' | 'weights'>,
  device: string,
  rows: readonly SweepRow[],
  baseline?: SweepBaseline,
): SweepReport {
  return {
    title: `milec sweep: ${source}`,
    source,
    data: `${sweepDatasets(o.data)
      .map((data) => `${data} (eval: ${sweepEvalSpec({ ...o, data })})`)
      .join('; ')}${o.weights ? `; every tune from ${o.weights}` : ''}`,
    device,
    rows,
    baseline,
  };
}

/** The four reports as files in `dir`: sweep.md, sweep.csv, sweep.json and report.html, each replaced atomically. */
export async function writeSweepReports(dir: string, rep: SweepReport, pictures?: ReadonlyMap<string, string>): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'sweep.md'), sweepMarkdown(rep));
  await writeFileAtomic(join(dir, 'sweep.csv'), sweepCsv(rep));
  await writeFileAtomic(join(dir, 'sweep.json'), sweepJson(rep));
  await writeFileAtomic(join(dir, 'report.html'), sweepHtml(rep, pictures));
}
