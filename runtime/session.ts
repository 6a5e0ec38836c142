/**
 * A plan on a device with its parameters: the one way the runtime runs a compiled graph (as
 * ONNX Runtime's InferenceSession). `Session.create` specialises and plans the graph for the
 * given sizes, creates every GPU object and writes the parameters; then `feed` writes inputs
 * by name, `run` reads outputs by name, and `step` runs the plan with one AdamW update in the
 * same submission. `Trainer`, `Generator`, `CompiledModel` and evaluation are built on it.
 */
import { type Backend, buildBackend } from '../compiler/backend.ts';
import type { Graph } from '../compiler/ir/graph.ts';
import { SEED_INPUT } from '../compiler/ir/graph.ts';
import type { Bindings } from '../compiler/ir/specialize.ts';
import type { Plan } from '../compiler/plan/buffers.ts';
import type { GpuContext } from './device.ts';
import { PlanExecutor } from './executor.ts';
import { ADAMW_DEFAULTS, type AdamWSettings } from './optim.ts';

/** Values of a graph's inputs (or parameters), by name. */
export type Feed = Readonly<Record<string, Float32Array | Int32Array>>;

export interface SessionOptions {
  /** Sizes of the graph's symbolic dimensions (`B`, …). */
  readonly bindings: Bindings;
  /** Parameter values: every parameter of the plan must have one (more are ignored). Without it the caller writes them with `load`. */
  readonly params?: ReadonlyMap<string, Float32Array>;
  /** Seed of the dropout masks: the seed input of step `s` is `seedFor(seed, s)` (default 0). */
  readonly seed?: number;
  /** AdamW's settings for `step` (defaults: `ADAMW_DEFAULTS`). */
  readonly optimizer?: AdamWSettings;
}

/** The dropout seed input of 0-based step `step` of a run seeded with `seed`. */
export function seedFor(seed: number, step: number): Int32Array {
  return Int32Array.of((Math.imul(seed + 1, 0x9e3779b1) + step) | 0);
}

export class Session {
  private constructor(
    readonly backend: Backend,
    readonly executor: PlanExecutor,
    private readonly seed: number,
    private readonly optimizer: Required<AdamWSettings>,
  ) {}

  /** Builds the back end for `opts.bindings`, creates every GPU object (pipelines compiled) and writes `opts.params`. */
  static async create(ctx: GpuContext, graph: Graph, opts: SessionOptions): Promise<Session> {
    const backend = buildBackend(graph, opts.bindings, { target: ctx.target });
    const executor = await PlanExecutor.create(ctx, backend.plan);
    const session = new Session(backend, executor, opts.seed ?? 0, { ...ADAMW_DEFAULTS, ...definedOnly(opts.optimizer ?? {}) });
    try {
      if (opts.params) session.load(opts.params);
    } catch (e) {
      executor.destroy();
      throw e;
    }
    return session;
  }

  /** The concrete graph the plan runs. */
  get graph(): Graph {
    return this.backend.graph;
  }

  get plan(): Plan {
    return this.backend.plan;
  }

  /** Dispatches recorded by the last `run` or `step`. */
  get dispatchCount(): number {
    return this.executor.dispatchCount;
  }

  /** Writes every parameter of the plan from `params`; with `partial`, only those it holds. */
  load(params: ReadonlyMap<string, Float32Array>, opts: { partial?: boolean } = {}): void {
    for (const p of this.plan.params) {
      const v = params.get(p.name);
      if (v) this.executor.writeParam(p.name, v);
      else if (!opts.partial) throw new Error(`no value for parameter ${p.name}`);
    }
  }

  /**
   * Writes every input of the graph from `values`. The dropout seed input, unless given,
   * gets `seedFor(seed, step)`. `from` names the values' origin in the error for a missing
   * input (`dataset synthetic` has no input `labels`).
   */
  feed(values: Feed, opts: { step?: number; from?: string } = {}): void {
    for (const i of this.graph.inputs) {
      const v = values[i.name] ?? (i.name === SEED_INPUT ? seedFor(this.seed, opts.step ?? 0) : undefined);
      if (!v) throw new Error(`${opts.from ?? 'the feed'} has no input \`${i.name}\``);
      this.executor.writeInput(i.node, v);
    }
  }

  /** Runs the plan once and reads back the named outputs. */
  async run(read: readonly string[]): Promise<Record<string, Float32Array>> {
    const ids = read.map((n) => this.outputNode(n));
    const got = await this.executor.run({ read: ids });
    return Object.fromEntries(read.map((n, k) => [n, got.get(ids[k]!)!]));
  }

  /**
   * Runs the plan and one AdamW update (step number `step`, 1-based, learning rate `lr`) in
   * the same submission; returns the named outputs (default: the loss) computed before it.
   */
  async step(update: { step: number; lr: number }, read: readonly string[] = ['loss']): Promise<Record<string, Float32Array>> {
    const ids = read.map((n) => this.outputNode(n));
    const got = await this.executor.run({ read: ids, update: { ...this.optimizer, step: update.step, lr: update.lr } });
    return Object.fromEntries(read.map((n, k) => [n, got.get(ids[k]!)!]));
  }

  /** Current parameter values: all, or the trainable ones. */
  async readParams(which: 'all' | 'trainable' = 'all'): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.plan.params) if (which === 'all' || p.trainable) out.set(p.name, await this.executor.readParam(p.name));
    return out;
  }

  destroy(): void {
    this.executor.destroy();
  }

  private outputNode(name: string): number {
    const id = this.graph.outputs[name];
    if (id === undefined)
      throw new Error(`the graph has no output \`${name}\` (outputs: ${Object.keys(this.graph.outputs).join(', ') || 'none'})`);
    return id;
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
