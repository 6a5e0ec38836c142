/**
 * The training loop: one compiled plan (forward, backward, AdamW) replayed each step as
 * a single queue submission, reading back only the loss. Weights are checkpointed
 * atomically; a non-finite loss stops the run with the last good checkpoint kept.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Backend } from '../compiler/backend.ts';
import type { Graph } from '../compiler/ir/graph.ts';
import type { Bindings } from '../compiler/ir/specialize.ts';
import type { Dataset } from './data/index.ts';
import type { GpuContext } from './device.ts';
import type { PlanExecutor } from './executor.ts';
import { Session } from './session.ts';
import { type LrSchedule, scheduledLr } from './optim.ts';
import { writeSafetensorsAtomic, type TensorToWrite } from './safetensors.ts';
import { saveTrainState, type TrainState } from './checkpoint.ts';
import { displayPath } from '../core/param-path.ts';

export interface TrainConfig {
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  /** Default: constant, no warm-up. */
  readonly schedule?: LrSchedule;
  readonly weightDecay: number;
  readonly seed: number;
  readonly bindings: Bindings;
  readonly checkpointEvery: number;
  readonly evalBatches: number;
  readonly outDir: string;
  /** Extra metadata stored in the checkpoint header (model, tune, …). */
  readonly metadata: Record<string, string>;
}

export interface StepInfo {
  readonly step: number;
  readonly loss: number;
  readonly stepsPerSec: number;
}

export interface TrainSummary {
  readonly steps: number;
  readonly lossFirst: number;
  readonly lossLast: number;
  readonly checkpoint: string;
  readonly accuracy?: number;
  readonly evalLoss?: number;
  readonly msPerStep: number;
  readonly dispatchesPerStep: number;
  readonly trainableParams: number;
  readonly totalParams: number;
}

export interface LoopOptions {
  /** First step (0-based; a resumed run starts at its checkpoint's step) and the end, exclusive. */
  readonly from: number;
  readonly to: number;
  /** After each step, with the 1-based count of steps done (for logs and progress bars). */
  readonly onStep?: (done: number, loss: number, stepsPerSec: number) => void;
  readonly checkpoint?: { readonly every: number; readonly path: string; readonly after?: (done: number) => Promise<void> };
}

export interface LoopResult {
  /** One per step run, all finite. */
  readonly losses: number[];
  /** Median wall time of a step after the first. */
  readonly msPerStep: number;
}

/** Training diverged: a non-finite loss, or non-finite weights found when checkpointing. */
export class NonFiniteLossError extends Error {
  constructor(
    /** 1-based number of the step at which it was found. */
    readonly step: number,
    /** What was not finite: `loss NaN`, or `parameter head.weight`. */
    readonly what: string,
    readonly checkpoint: string | undefined,
    readonly checkpointStep: number | undefined,
  ) {
    super(
      `${what} became non-finite at step ${step}; stopped. ` +
        (checkpoint
          ? `The last good checkpoint (after step ${checkpointStep}) is kept at ${checkpoint}.`
          : 'No checkpoint had been written yet.') +
        ' Try a lower --lr.',
    );
  }
}

export class Trainer {
  private constructor(
    /** The training plan (forward, backward, AdamW) on the device. */
    readonly session: Session,
    private readonly cfg: TrainConfig,
  ) {}

  /** Compiles the back end and creates every GPU object up front (pipelines included). */
  static async create(ctx: GpuContext, trainGraph: Graph, cfg: TrainConfig): Promise<Trainer> {
    const session = await Session.create(ctx, trainGraph, {
      bindings: cfg.bindings,
      seed: cfg.seed,
      optimizer: { weightDecay: cfg.weightDecay },
    });
    return new Trainer(session, cfg);
  }

  get backend(): Backend {
    return this.session.backend;
  }

  get executor(): PlanExecutor {
    return this.session.executor;
  }

  /** Writes every parameter of the plan. */
  load(params: ReadonlyMap<string, Float32Array>): void {
    this.session.load(params);
  }

  /** One optimizer step on the training batch of `step` (0-based); returns the loss computed before the update. */
  async step(data: Dataset, step: number): Promise<number> {
    this.session.feed(data.batch(step, this.cfg.batch, 'train').inputs, { step, from: `dataset ${data.name}` });
    const lr = this.cfg.schedule ? scheduledLr(this.cfg.lr, step, this.cfg.schedule) : this.cfg.lr;
    const out = await this.session.step({ step: step + 1, lr });
    return out.loss![0]!;
  }

  /**
   * The training loop of `milec train` and `milec sweep`: steps `from`..`to`-1, stopping with
   * a `NonFiniteLossError` (naming the last good checkpoint) on a non-finite loss or, at a
   * checkpoint, non-finite weights. Checkpoints go to `checkpoint.path` every
   * `checkpoint.every` steps and after the last, each followed by `checkpoint.after`.
   */
  async run(data: Dataset, opts: LoopOptions): Promise<LoopResult> {
    const losses: number[] = [];
    const stepMs: number[] = [];
    let saved: string | undefined;
    let savedStep: number | undefined;
    let tFirst = 0;
    for (let step = opts.from; step < opts.to; step++) {
      const t = performance.now();
      const loss = await this.step(data, step);
      stepMs.push(performance.now() - t);
      if (!Number.isFinite(loss)) throw new NonFiniteLossError(step + 1, `the loss (${loss})`, saved, savedStep);
      if (step === opts.from) tFirst = performance.now();
      losses.push(loss);
      const done = step + 1;
      opts.onStep?.(done, loss, step === opts.from ? 0 : (step - opts.from) / ((performance.now() - tFirst) / 1000));
      const c = opts.checkpoint;
      if (c && (done % c.every === 0 || done === opts.to)) {
        const bad = await this.saveCheckpoint(c.path, done);
        if (bad) throw new NonFiniteLossError(done, `parameter ${bad}`, saved, savedStep);
        await c.after?.(done);
        saved = c.path;
        savedStep = done;
      }
    }
    // The first step pays for pipeline warm-up; the median of the rest is the steady state.
    const steady = stepMs.slice(1).sort((a, b) => a - b);
    return { losses, msPerStep: steady.length ? steady[Math.floor(steady.length / 2)]! : (stepMs[0] ?? NaN) };
  }

  trainedParams(): Promise<Map<string, Float32Array>> {
    return this.session.readParams('trainable');
  }

  /**
   * Writes the trainable weights atomically, named as users see them (`blocks.0.attn.query.lora_A`,
   * core/param-path.ts). Returns the name of a parameter holding a non-finite value instead of
   * writing (a finite loss can still come with an overflowing gradient), so a checkpoint on
   * disk is always usable.
   */
  async saveCheckpoint(path: string, step: number): Promise<string | undefined> {
    const tensors: Record<string, TensorToWrite> = {};
    const params = await this.trainedParams();
    for (const p of this.backend.graph.params) {
      if (!p.trainable) continue;
      const data = params.get(p.name)!;
      if (!data.every(Number.isFinite)) return displayPath(p.name);
      tensors[displayPath(p.name)] = { dtype: 'F32', shape: p.shape as number[], data };
    }
    await writeSafetensorsAtomic(path, tensors, { ...this.cfg.metadata, step: String(step), format: 'milec-adapter' });
    return undefined;
  }

  /**
   * The full training state after `step` optimizer steps: trainable parameters, AdamW
   * moments, step, seed and data position (see runtime/checkpoint.ts).
   */
  async trainState(step: number, info: { model: string; tune: string; weights?: string }): Promise<TrainState> {
    const params = await this.trainedParams();
    const shapes = new Map<string, number[]>();
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const p of this.backend.graph.params) {
      if (!p.trainable) continue;
      shapes.set(p.name, p.shape as number[]);
      const mv = await this.executor.readMoments(p.name);
      m.set(p.name, mv.m);
      v.set(p.name, mv.v);
    }
    return {
      step,
      seed: this.cfg.seed,
      dataPosition: step,
      batch: this.cfg.batch,
      lr: this.cfg.lr,
      weightDecay: this.cfg.weightDecay,
      model: info.model,
      tune: info.tune,
      weights: info.weights ?? '',
      params,
      shapes,
      m,
      v,
    };
  }

  /** Writes the full training state atomically as the folder `dir`. */
  async saveState(dir: string, step: number, info: { model: string; tune: string; weights?: string }): Promise<void> {
    await saveTrainState(dir, await this.trainState(step, info));
  }

  /** Restores trainable parameters and AdamW moments; the caller continues at `state.step`. */
  restoreState(state: TrainState): void {
    for (const p of this.backend.graph.params) {
      if (!p.trainable) continue;
      this.executor.writeParam(p.name, state.params.get(p.name)!);
      this.executor.writeMoments(p.name, state.m.get(p.name)!, state.v.get(p.name)!);
    }
  }

  destroy(): void {
    this.session.destroy();
  }
}

export function checkpointPath(outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  return join(outDir, 'adapter.safetensors');
}
