/**
 * `milec train` on the device, in the steps the command announces and follows: the trainer
 * compiled and started from its state (train-setup.ts : startRun), the loop with its
 * checkpoints, the adapter folder, and the record `--json` prints last. The held-out
 * evaluation (runtime/eval/held-out.ts) runs between the adapter and the record; the command
 * calls it, because runtime/eval builds on the modules of this folder and cannot be imported here.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { displayPath } from '../core/param-path.ts';
import type { Bindings } from '../compiler/ir/specialize.ts';
import type { FrontEnd } from '../compiler/pipeline.ts';
import type { Dataset } from './data/index.ts';
import type { GpuContext } from './device.ts';
import {
  parameterCounts,
  type RunStart,
  runCheckpoints,
  saveTrainedAdapter,
  startRun,
  trainConfig,
  type TrainSettings,
} from './train-setup.ts';
import { type LoopOptions, type LoopResult, Trainer } from './train.ts';
import { MILEC_VERSION } from './package-root.ts';
import { type TensorToWrite, writeSafetensorsAtomic } from './safetensors.ts';

/** The options of `milec train` the run reads: the training settings, where it starts from and where it writes. */
export interface TrainRunOptions extends TrainSettings {
  /** A saved adapter folder (peft or milec format) to start from. */
  readonly adapter?: string;
  /** A run folder (or its `checkpoint/`) to continue. */
  readonly resume?: string;
  /** The run folder: `adapter.safetensors`, `adapter/` and `checkpoint/`. */
  readonly out: string;
  readonly checkpointEvery: number;
  /** Held-out batches evaluated after training (recorded in the trainer's settings). */
  readonly evalBatches: number;
}

/** The loop's losses and speed, with the dispatches of one step and the file of the trainable weights. */
export interface TrainedLoop extends LoopResult {
  readonly dispatchesPerStep: number;
  readonly checkpoint: string;
}

/** The last line of `milec train --json`: numbers rounded to 6 decimals, as every line prints them. */
export interface TrainRecord {
  readonly done: true;
  readonly steps: number;
  /** The optimizer settings it trained with: each the command line's, else the tune's `optimizer { ... }`'s, else the default. */
  readonly lr: number;
  readonly schedule: TrainSettings['schedule'];
  /** Warm-up steps. */
  readonly warmup: number;
  readonly weightDecay: number;
  readonly lossFirst: number;
  readonly lossLast: number;
  /** The trainable weights (`out/adapter.safetensors`), the adapter folder and the training state. */
  readonly checkpoint: string;
  readonly adapter: string;
  readonly state: string;
  readonly startStep: number;
  readonly evalLoss: number | undefined;
  readonly accuracy: number | undefined;
  readonly msPerStep: number;
  readonly dispatchesPerStep: number;
  readonly trainableParams: number;
  readonly totalParams: number;
  readonly device: string;
  /** From creating the trainer (kernels, pipelines) to the first step, starting state included. */
  readonly compileMs: number;
}

/** One `milec train` run: its trainer (destroy it when done), where it starts, and its parameter counts. */
export class TrainRun {
  /** `performance.now()` when the loop began: the end of the compile time. */
  private loopStart = NaN;

  private constructor(
    readonly trainer: Trainer,
    readonly tuned: FrontEnd,
    readonly start: RunStart,
    readonly counts: { readonly totalParams: number; readonly trainableParams: number },
    private readonly o: TrainRunOptions,
    private readonly compileStart: number,
  ) {}

  /**
   * Creates the trainer of `tuned` for the sizes `bindings` (`source` is the `.mile` file,
   * recorded in the checkpoints) and writes its starting state (`--weights`, `--adapter`,
   * `--resume`); the trainer is destroyed when the start fails.
   */
  static async open(ctx: GpuContext, tuned: FrontEnd, run: { source: string; bindings: Bindings }, o: TrainRunOptions): Promise<TrainRun> {
    const cfg = trainConfig(o, {
      bindings: run.bindings,
      checkpointEvery: o.checkpointEvery,
      evalBatches: o.evalBatches,
      outDir: o.out,
      metadata: {
        model: tuned.model.name,
        tune: tuned.tune.tune ?? '(full)',
        source: run.source,
        seed: String(o.seed),
        // The backbone it started from ('' = the random initial values): what `milec eval` loads under the trained tensors.
        weights: o.weights ?? '',
        weights_map: o.weights ? (o.weightsMap ?? 'none') : '',
      },
    });
    const compileStart = performance.now();
    const trainer = await Trainer.create(ctx, tuned.train!, cfg);
    try {
      const counts = parameterCounts(trainer.backend.graph);
      const start = await startRun(trainer, tuned, o);
      return new TrainRun(trainer, tuned, start, counts, o, compileStart);
    } catch (e) {
      trainer.destroy();
      throw e;
    }
  }

  /** Trains from the start step to `o.steps`, checkpointing every `o.checkpointEvery` steps and after the last (train-setup.ts : runCheckpoints). */
  async train(data: Dataset, onStep: LoopOptions['onStep']): Promise<TrainedLoop> {
    const { o } = this;
    const checkpoint = runCheckpoints(this.trainer, this.tuned, { out: o.out, every: o.checkpointEvery, weights: o.weights });
    this.loopStart = performance.now();
    const loop = await this.trainer.run(data, { from: this.start.step, to: o.steps, onStep, checkpoint });
    // Read before anything else runs on the executor.
    return { ...loop, dispatchesPerStep: this.trainer.executor.dispatchCount, checkpoint: checkpoint.path };
  }

  /** Saves the adapter folder `out/adapter/`; returns it with every parameter's final value (train-setup.ts : saveTrainedAdapter). */
  saveAdapter(): Promise<{ dir: string; params: Map<string, Float32Array> }> {
    return saveTrainedAdapter(this.trainer, this.tuned, this.start, this.o);
  }

  /**
   * Writes the model's own parameters (`params`: every parameter's final value; PEFT-added ones
   * are left out) to one safetensors file under milec's dotted paths, with what made it in its
   * metadata: the `command`, seed, milec version, data, steps and the first logged losses (what
   * a re-run of the command's first steps must reproduce). A starting point for `--weights` or a
   * model's `weights { ... }` block.
   */
  async saveWeights(path: string, params: ReadonlyMap<string, Float32Array>, loop: TrainedLoop, command: string): Promise<number> {
    const { o } = this;
    const tensors: Record<string, TensorToWrite> = {};
    for (const p of this.trainer.backend.graph.params) {
      if (p.addedBy) continue;
      const data = params.get(p.name);
      if (data) tensors[displayPath(p.name)] = { dtype: 'F32', shape: p.shape.map(Number), data };
    }
    mkdirSync(dirname(path) || '.', { recursive: true });
    await writeSafetensorsAtomic(path, tensors, {
      format: 'milec-weights',
      model: this.tuned.model.name,
      tune: this.tuned.tune.tune ?? '(full)',
      command,
      seed: String(o.seed),
      milec_version: MILEC_VERSION,
      data: o.data,
      steps: String(o.steps),
      batch: String(o.batch),
      weights: o.weights ?? '',
      losses_first: JSON.stringify(loop.losses.slice(0, FIRST_LOSSES).map(roundForJson)),
      loss_last: String(roundForJson(loop.losses[loop.losses.length - 1]!)),
    });
    return Object.keys(tensors).length;
  }

  /** The summary of the trained `loop`, its adapter folder and held-out evaluation `ev`, on `device`. */
  record(loop: TrainedLoop, adapterDir: string, ev: { accuracy?: number; loss?: number }, device: string): TrainRecord {
    const { o } = this;
    return {
      done: true,
      steps: o.steps,
      lr: o.lr,
      schedule: o.schedule,
      warmup: o.warmup,
      weightDecay: o.weightDecay,
      lossFirst: roundForJson(loop.losses[0]!),
      lossLast: roundForJson(loop.losses[loop.losses.length - 1]!),
      checkpoint: loop.checkpoint,
      adapter: adapterDir,
      state: join(o.out, 'checkpoint'),
      startStep: this.start.step,
      evalLoss: ev.loss === undefined ? undefined : roundForJson(ev.loss),
      accuracy: ev.accuracy === undefined ? undefined : roundForJson(ev.accuracy),
      msPerStep: roundForJson(loop.msPerStep),
      dispatchesPerStep: loop.dispatchesPerStep,
      trainableParams: this.counts.trainableParams,
      totalParams: this.counts.totalParams,
      device,
      compileMs: Math.round(this.loopStart - this.compileStart),
    };
  }

  destroy(): void {
    this.trainer.destroy();
  }
}

/** The line `milec train --json` prints for a logged step (`done`: 1-based). */
export function stepRecord(done: number, loss: number, stepsPerSec: number): { step: number; loss: number; stepsPerSec: number } {
  return { step: done, loss: roundForJson(loss), stepsPerSec: roundForJson(stepsPerSec) };
}

/** How many of the first losses `saveWeights` records. */
export const FIRST_LOSSES = 10;

/** `x` to 6 decimals; a non-finite value as it is. */
function roundForJson(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x;
}
