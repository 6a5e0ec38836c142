/**
 * A compiled model on a device: what the typed module that `milec compile -o DIR` writes
 * (`DIR/<Model>.ts`) instantiates. It holds up to two plans built from the embedded graphs:
 *
 *   - training (forward with dropout, backward, AdamW), read back: the loss;
 *   - inference (forward without dropout, pruned to the model's non-loss outputs).
 *
 * Each plan has its own parameter buffers. Loading weights writes both; after training
 * steps, the first inference copies the trainable parameters across on the GPU.
 * The generated module supplies the types (parameter names, inputs, outputs); this class
 * is generic over them and checks the same things at run time.
 */
import type { Graph } from '../compiler/ir/graph.ts';
import type { GpuContext } from './device.ts';
import type { PlanExecutor } from './executor.ts';
import { initialParams } from './params.ts';
import { type Feed, Session } from './session.ts';
import { readSafetensors, type SafetensorsFile, type TensorToWrite, writeSafetensorsAtomic } from './safetensors.ts';
import { mapWeights, type PosInterp, type WeightsMapping, weightsMapping } from './weights.ts';
import { elementCount } from '../core/dim.ts';
import { findPath } from '../core/param-path.ts';

export interface ParamSpec {
  readonly shape: readonly number[];
  readonly trainable: boolean;
  readonly addedBy?: string;
}

/** What a generated module passes to `CompiledModel.create`. */
export interface ModelSpec {
  readonly model: string;
  readonly tune: string | null;
  /** Builds the training graph (absent when the model cannot train: no loss, nothing trainable). */
  readonly trainGraph?: () => Graph;
  readonly inferGraph: () => Graph;
  readonly params: Readonly<Record<string, ParamSpec>>;
}

export interface CompiledModelOptions {
  /** Seed of the initial parameter values and of dropout (default 0). */
  readonly seed?: number;
  /** AdamW (defaults as `milec train`: lr 3e-3, weight decay 0, betas 0.9/0.999, eps 1e-8). */
  readonly lr?: number;
  readonly weightDecay?: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  /** Which plans to build (both by default). Without `train`, `trainStep` throws; without `infer`, `infer` does. */
  readonly train?: boolean;
  readonly infer?: boolean;
}

export interface LoadOptions {
  /** Reject names the model does not have (default true). Missing names keep their current values. */
  readonly strict?: boolean;
  /** Strip this prefix from each tensor name first (e.g. `base_model.model.`). */
  readonly prefix?: string;
}

/** Options of `loadSafetensors`: `LoadOptions`, and a name mapping as `--weights-map` takes. */
export interface SafetensorsLoadOptions extends LoadOptions {
  /** How file keys become parameter paths: a `--weights-map` name or a mapping table (runtime/weights.ts). */
  readonly mapping?: string | WeightsMapping;
  /** With `mapping`: the path of the module the file describes (`--weights FILE@AT`), e.g. `text_encoder`; the whole model by default. */
  readonly at?: string;
  /** With `mapping`: how a position table of another grid is resized (default bicubic). */
  readonly interpolation?: PosInterp;
}

export class CompiledModel<
  P extends string = string,
  TrainIn extends object = Feed,
  InferIn extends object = Feed,
  Out extends object = Record<string, Float32Array>,
> {
  private steps = 0;
  /** Trainable parameters changed in the training plan since they were last copied to the inference plan. */
  private stale = false;

  private constructor(
    private readonly ctx: GpuContext,
    readonly spec: ModelSpec,
    /** The size of every symbolic dimension (`B`, …), as bound at creation. */
    readonly sizes: Readonly<Record<string, number>>,
    private readonly opts: CompiledModelOptions,
    /** The training plan (forward with dropout, backward, AdamW) on the device. */
    readonly train: Session | undefined,
    /** The inference plan (forward without dropout). */
    readonly inference: Session | undefined,
  ) {}

  /** Specialises and plans the graphs for `sizes`, compiles every pipeline, and initialises the parameters. */
  static async create<P extends string, TrainIn extends object, InferIn extends object, Out extends object>(
    ctx: GpuContext,
    spec: ModelSpec,
    sizes: Readonly<Record<string, number>>,
    opts: CompiledModelOptions = {},
  ): Promise<CompiledModel<P, TrainIn, InferIn, Out>> {
    for (const [k, v] of Object.entries(sizes))
      if (!Number.isInteger(v) || v <= 0) throw new Error(`size ${k} must be a positive integer, got ${v}`);
    const wantTrain = opts.train ?? true;
    const wantInfer = opts.infer ?? true;
    if (wantTrain && !spec.trainGraph)
      throw new Error(`${spec.model} was compiled without a training graph; create it with { train: false }`);
    const made: Session[] = [];
    try {
      const { seed, weightDecay, beta1, beta2, eps } = opts;
      const build = async (g: Graph) => {
        const session = await Session.create(ctx, g, { bindings: sizes, seed, optimizer: { weightDecay, beta1, beta2, eps } });
        made.push(session);
        return session;
      };
      const train = wantTrain ? await build(spec.trainGraph!()) : undefined;
      const inference = wantInfer ? await build(spec.inferGraph()) : undefined;
      const model = new CompiledModel<P, TrainIn, InferIn, Out>(ctx, spec, { ...sizes }, opts, train, inference);
      const g = (train ?? inference)?.graph;
      if (g) model.loadWeights(initialParams(g, opts.seed ?? 0));
      return model;
    } catch (e) {
      for (const x of made) x.destroy();
      throw e;
    }
  }

  /** Parameter names, in graph order. */
  get paramNames(): P[] {
    return Object.keys(this.spec.params) as P[];
  }

  private sets?: [PlanExecutor, Set<string>][];
  private paramSets(): [PlanExecutor, Set<string>][] {
    return (this.sets ??= this.executors().map((ex) => [ex, new Set(ex.plan.params.map((p) => p.name))]));
  }

  private executors(): PlanExecutor[] {
    return [this.train?.executor, this.inference?.executor].filter((x): x is PlanExecutor => x !== undefined);
  }

  /**
   * Writes parameter values (from a `Map` or a record), by parameter path in either spelling
   * (`blocks.0.attn.query.weight` or `blocks[0].attn.query.weight`, core/param-path.ts). Each
   * array must hold exactly the parameter's element count. Returns the names written, as the
   * model spells them.
   */
  loadWeights(weights: ReadonlyMap<string, Float32Array> | Partial<Record<P, Float32Array>>, opts: LoadOptions = {}): P[] {
    const entries: [string, Float32Array][] = weights instanceof Map ? [...weights] : (Object.entries(weights) as [string, Float32Array][]);
    const prefix = opts.prefix ?? '';
    const unknown: string[] = [];
    const done: P[] = [];
    for (const [raw, data] of entries) {
      const name = findPath(this.spec.params, prefix && raw.startsWith(prefix) ? raw.slice(prefix.length) : raw);
      if (name === undefined) {
        unknown.push(raw);
        continue;
      }
      const p = this.spec.params[name]!;
      const numel = elementCount(p.shape);
      if (!(data instanceof Float32Array)) throw new Error(`weight ${name}: expected a Float32Array`);
      if (data.length !== numel)
        throw new Error(`weight ${name} has shape [${p.shape.join(', ')}] (${numel} elements), got ${data.length} values`);
      // A plan may lack a parameter its graph does not use (written to the plans that have it).
      for (const [ex, names] of this.paramSets()) if (names.has(name)) ex.writeParam(name, data);
      done.push(name as P);
    }
    if (unknown.length && (opts.strict ?? true)) {
      throw new Error(
        `${this.spec.model} has no parameter${unknown.length > 1 ? 's' : ''} ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? `, … (${unknown.length} in all)` : ''}`,
      );
    }
    return done;
  }

  /**
   * Loads weights from a safetensors file (F32, F16, BF16 or F64 tensors).
   *
   * Without `mapping`, tensor names are parameter paths (either spelling) and shapes must
   * match exactly; with `strict` (the default), a tensor the model does not have is an error.
   * With `mapping` (`hf-bert`, `timm-vit`, `hf-vit`, `blip`, or a table), names are mapped as
   * `milec train --weights FILE@AT --weights-map MAPPING` maps them (runtime/weights.ts),
   * position tables are interpolated to the model's grid, and every problem is listed in one
   * `WeightsError`; `strict: false` loads the rest, as `--allow-missing` does.
   */
  async loadSafetensors(path: string, opts: SafetensorsLoadOptions = {}): Promise<P[]> {
    const read = await readSafetensors(path);
    const prefix = opts.prefix ?? '';
    const strip = (raw: string) => (prefix && raw.startsWith(prefix) ? raw.slice(prefix.length) : raw);
    if (opts.mapping !== undefined) {
      const tensors = Object.create(null) as SafetensorsFile['tensors'];
      for (const n of read.names) tensors[strip(n)] = read.tensors[n]!;
      const file: SafetensorsFile = { ...read, names: read.names.map(strip), tensors };
      const mapping = typeof opts.mapping === 'string' ? weightsMapping(opts.mapping) : opts.mapping;
      const params = Object.entries(this.spec.params).map(([name, p]) => ({ name, shape: p.shape, addedBy: p.addedBy }));
      const loaded = mapWeights([{ source: { path, prefix: opts.at ?? '', mapping }, file }], params, {
        allowMissing: opts.strict === false,
        interpolation: opts.interpolation,
      });
      return this.loadWeights(loaded.values);
    }
    const map = new Map<string, Float32Array>();
    for (const raw of read.names) {
      const t = read.tensors[raw]!;
      const name = findPath(this.spec.params, strip(raw));
      if (name !== undefined) {
        const p = this.spec.params[name]!;
        if (!(t.data instanceof Float32Array)) throw new Error(`${path}: tensor ${raw} is ${t.dtype}, not a float tensor`);
        if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
          throw new Error(`${path}: tensor ${raw} has shape [${t.shape.join(', ')}], but ${name} is [${p.shape.join(', ')}]`);
        }
      }
      map.set(name ?? strip(raw), t.data as Float32Array);
    }
    return this.loadWeights(map, { strict: opts.strict });
  }

  /** One AdamW step on a batch; returns the loss computed before the update. */
  async trainStep(inputs: TrainIn, opts: { lr?: number } = {}): Promise<number> {
    const t = this.train;
    if (!t) throw new Error(`${this.spec.model} was created without its training plan`);
    t.feed(inputs as unknown as Feed, { step: this.steps, from: 'trainStep: the batch' });
    // `milec train`'s default learning rate.
    const out = await t.step({ step: this.steps + 1, lr: opts.lr ?? this.opts.lr ?? 3e-3 });
    this.steps++;
    this.stale = true;
    return out.loss![0]!;
  }

  /** Optimizer steps taken so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** Copies the trainable parameters from the training plan to the inference plan, on the GPU. */
  private syncTrainable(): void {
    if (!this.stale || !this.train || !this.inference) return;
    const from = this.train.executor;
    const to = this.inference.executor;
    const enc = this.ctx.device.createCommandEncoder({ label: 'sync trainable parameters' });
    for (const p of from.plan.params) {
      if (!p.trainable) continue;
      const q = to.plan.params.find((x) => x.name === p.name);
      if (!q) continue;
      const [a, b] = [from.slots[p.buffer]!, to.slots[q.buffer]!];
      enc.copyBufferToBuffer(a.buffer, a.offset, b.buffer, b.offset, p.numel * 4);
    }
    this.ctx.device.queue.submit([enc.finish()]);
    this.stale = false;
  }

  /** Runs the inference graph; returns every output it computes (e.g. `logits`). */
  async infer(inputs: InferIn): Promise<Out> {
    const inf = this.inference;
    if (!inf) throw new Error(`${this.spec.model} was created without its inference plan`);
    this.syncTrainable();
    inf.feed(inputs as unknown as Feed, { from: 'infer: the batch' });
    return (await inf.run(Object.keys(inf.graph.outputs))) as Out;
  }

  /** Current parameter values (all, or the trainable ones). */
  async readWeights(which: 'all' | 'trainable' = 'all'): Promise<Map<P, Float32Array>> {
    const t = this.train ?? this.inference;
    return ((await t?.readParams(which)) ?? new Map()) as Map<P, Float32Array>;
  }

  /** Writes the trainable parameters as an adapter safetensors file (atomically), like `milec train`. */
  async saveAdapter(path: string): Promise<void> {
    const tensors: Record<string, TensorToWrite> = {};
    for (const [name, data] of await this.readWeights('trainable'))
      tensors[name] = { dtype: 'F32', shape: [...this.spec.params[name]!.shape], data };
    await writeSafetensorsAtomic(path, tensors, {
      model: this.spec.model,
      tune: this.spec.tune ?? '(full)',
      step: String(this.steps),
      format: 'milec-adapter',
    });
  }

  /** Frees every GPU buffer of both plans (the device stays open). */
  destroy(): void {
    for (const ex of this.executors()) ex.destroy();
  }
}
