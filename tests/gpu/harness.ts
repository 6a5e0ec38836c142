/**
 * Shared helpers of the GPU tests: build a small concrete graph with random feeds, run it
 * through schedule → render → plan → PlanExecutor with every non-leaf buffer poisoned with
 * NaN, and compare with the float64 reference.
 */
import { internalSpan } from '../../core/span.ts';
import { GraphBuilder, type Graph, type NodeId } from '../../compiler/ir/graph.ts';
import type { DType } from '../../compiler/ops/kinds.ts';
import { type PlanOptions, planGraph } from '../../compiler/plan/buffers.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { PlanExecutor } from '../../runtime/executor.ts';
import { mulberry32 } from '../../runtime/reference-run.ts';

export type Feeds = { params: Map<string, Float64Array>; inputs: Map<string, Float64Array | Int32Array> };

import { elementCount as numel } from '../../core/dim.ts';
export { numel };

/** A GraphBuilder that also draws a random value for every param and input it adds. */
export class TestGraph {
  readonly b = new GraphBuilder();
  readonly feeds: Feeds = { params: new Map(), inputs: new Map() };
  private readonly rng: () => number;
  private n = 0;

  constructor(seed = 1234) {
    this.rng = mulberry32(seed);
  }

  /** Values in ±[0.5, 1.5] (or [0.5, 1.5] when positive): non-zero, away from kinks and poles. */
  values(count: number, opts: { positive?: boolean; scale?: number } = {}): Float64Array {
    const s = opts.scale ?? 1;
    return Float64Array.from({ length: count }, () => s * (0.5 + this.rng()) * (opts.positive || this.rng() < 0.5 ? 1 : -1));
  }

  param(shape: number[], opts: { positive?: boolean; scale?: number; trainable?: boolean } = {}): NodeId {
    const name = `p${this.n++}`;
    const id = this.b.op('param', [], { name, shape });
    this.b.params.push({ name, node: id, shape, init: { kind: 'zeros' }, trainable: opts.trainable ?? true, origin: internalSpan });
    this.feeds.params.set(name, this.values(numel(shape), opts));
    return id;
  }

  input(shape: number[], opts: { positive?: boolean; scale?: number; data?: Float64Array } = {}): NodeId {
    return this.addInput(shape, 'f32', opts.data ?? this.values(numel(shape), opts));
  }

  /** i32 ids drawn uniformly from [lo, hi), or given. */
  ids(shape: number[], hi: number, data?: number[], lo = 0): NodeId {
    const v = data ? Int32Array.from(data) : Int32Array.from({ length: numel(shape) }, () => lo + Math.floor(this.rng() * (hi - lo)));
    return this.addInput(shape, 'i32', v);
  }

  private addInput(shape: number[], dtype: DType, data: Float64Array | Int32Array): NodeId {
    const name = `x${this.n++}`;
    const id = this.b.op('input', [], { name, shape, dtype });
    this.b.inputs.push({ name, node: id, shape, dtype });
    this.feeds.inputs.set(name, data);
    return id;
  }

  build(): Graph {
    return this.b.build();
  }
}

/**
 * Runs `roots` of `g` on the device and returns each root's values. Buffers other than
 * params and inputs start as NaN, so an element a kernel forgets to write shows up.
 */
export async function runOnGpu(
  ctx: GpuContext,
  g: Graph,
  feeds: Feeds,
  roots: readonly NodeId[],
  opts: Partial<PlanOptions> = {},
): Promise<{ values: Map<NodeId, Float32Array>; exec: PlanExecutor }> {
  const plan = planGraph(g, { roots, keep: roots, ...opts });
  const exec = await PlanExecutor.create(ctx, plan);
  for (const p of g.params) exec.writeParam(p.name, Float32Array.from(feeds.params.get(p.name)!));
  for (const i of g.inputs) {
    const v = feeds.inputs.get(i.name)!;
    exec.writeInput(i.node, i.dtype === 'i32' ? Int32Array.from(v) : Float32Array.from(v));
  }
  exec.fill(['output', 'grad', 'temp']);
  const values = await exec.run({ read: roots });
  return { values, exec };
}

/** Largest |gpu − ref| / max(1, |ref|), and where; NaN anywhere counts as infinite. */
export function maxRelError(gpu: ArrayLike<number>, ref: ArrayLike<number>): { err: number; at: number } {
  if (gpu.length !== ref.length) return { err: Infinity, at: -1 };
  let err = 0;
  let at = -1;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(gpu[i]! - ref[i]!) / Math.max(1, Math.abs(ref[i]!));
    if (!(e <= err)) {
      err = Number.isNaN(e) ? Infinity : e;
      at = i;
      if (err === Infinity) break;
    }
  }
  return { err, at };
}
