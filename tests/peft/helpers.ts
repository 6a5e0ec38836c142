/**
 * Shared helpers for the PEFT method tests: compile a tune of a small `.mile` model, run it on
 * the float64 reference with chosen parameter values, check gradients by central differences,
 * and small dense-tensor routines for independent computations of each method's formula.
 */
import { expect } from 'vitest';
import { compileFrontEnd, type FrontEnd } from '../../compiler/pipeline.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { specialize } from '../../compiler/ir/specialize.ts';
import type { MethodRegistry } from '../../compiler/peft/registry.ts';
import { mulberry32, runReference } from '../../runtime/reference-run.ts';
import { initialParams } from '../../runtime/params.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { elementCount } from '../../core/dim.ts';

export type Params = Map<string, Float64Array>;
export type Inputs = Map<string, Float64Array | Int32Array>;

export function compile(text: string, tune: string | undefined, opts: { registry?: MethodRegistry; training?: boolean } = {}): FrontEnd {
  const r = compileFrontEnd({ host: fileHost(), file: 'test.mile', text, tune, training: opts.training ?? true, registry: opts.registry });
  if (!r.result)
    throw new Error(`expected success, got: ${r.diagnostics.map((d) => `${d.span.line}:${d.span.col} ${d.message}`).join('; ')}`);
  return r.result;
}

/** Total size of the parameters `method` added (per site and shared). */
export function addedCount(fe: FrontEnd, method: string): number {
  return fe.forward.params.filter((p) => p.addedBy === method).reduce((n, p) => n + elementCount(p.shape), 0);
}

export function trainableCount(fe: FrontEnd): number {
  return fe.forward.params.filter((p) => p.trainable).reduce((n, p) => n + elementCount(p.shape), 0);
}

/** Random values (±[0.2, 1.2]·scale) for every parameter; `keep` names keep their given values. */
export function randomParams(g: Graph, seed: number, bindings: Record<string, number>, keep: Params = new Map(), scale = 0.5): Params {
  const rng = mulberry32(seed);
  const c = specialize(g, bindings);
  const out: Params = new Map();
  for (const p of c.params) {
    const n = elementCount(p.shape);
    out.set(p.name, keep.get(p.name) ?? Float64Array.from({ length: n }, () => (0.2 + rng()) * scale * (rng() < 0.5 ? -1 : 1)));
  }
  return out;
}

/** The float64 initial values milec would train from. */
export function initParams(g: Graph, bindings: Record<string, number>, seed = 7): Params {
  const init = initialParams(specialize(g, bindings), seed);
  return new Map([...init].map(([k, v]) => [k, Float64Array.from(v)]));
}

/** Runs the forward graph at batch bindings; returns named outputs and the loss. */
export function run(g: Graph, bindings: Record<string, number>, params: Params, inputs: Inputs): Record<string, Float64Array> {
  const c = specialize(g, bindings);
  const vals = runReference(c, { params, inputs });
  const out: Record<string, Float64Array> = {};
  for (const [k, id] of Object.entries(c.outputs)) out[k] = vals[id]!.data;
  return out;
}

/**
 * Checks d loss / d p of every trainable parameter `p` selected by `which` against central
 * differences of the loss (float64; up to `maxPerParam` elements per parameter).
 */
export function gradCheck(
  fe: FrontEnd,
  bindings: Record<string, number>,
  params: Params,
  inputs: Inputs,
  which: (name: string) => boolean,
  maxPerParam = 48,
): number {
  const train = specialize(fe.train!, bindings);
  const fwd = specialize(fe.forward, bindings);
  const values = runReference(train, { params, inputs });
  const lossOf = (ps: Params) => runReference(fwd, { params: ps, inputs })[fwd.outputs.loss!]!.data[0]!;
  const h = 1e-6;
  let checked = 0;
  const names = fe.forward.params.filter((p) => p.trainable && which(p.name)).map((p) => p.name);
  expect(names.length).toBeGreaterThan(0);
  for (const name of names) {
    const gid = train.grads[name];
    expect(gid, `gradient of ${name}`).toBeDefined();
    const analytic = values[gid!]!.data;
    const theta = params.get(name)!;
    const step = Math.max(1, Math.floor(theta.length / maxPerParam));
    for (let i = 0; i < theta.length; i += step) {
      const at = (delta: number) => {
        const moved = theta.slice();
        moved[i]! += delta;
        return lossOf(new Map(params).set(name, moved));
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      const err = Math.abs(analytic[i]! - numeric) / Math.max(1, Math.abs(numeric));
      expect(err, `d loss / d ${name}[${i}]: analytic ${analytic[i]}, numeric ${numeric}`).toBeLessThan(1e-6);
      checked++;
    }
  }
  return checked;
}

/** The analytic gradients of the training graph, by parameter name. */
export function gradients(fe: FrontEnd, bindings: Record<string, number>, params: Params, inputs: Inputs): Map<string, Float64Array> {
  const g = specialize(fe.train!, bindings);
  const v = runReference(g, { params, inputs });
  return new Map(Object.entries(g.grads).map(([k, id]) => [k, v[id]!.data]));
}

/** Deterministic f32-valued inputs in ±[0.1, 1.1]. */
export function floats(n: number, seed: number): Float64Array {
  const rng = mulberry32(seed);
  return Float64Array.from({ length: n }, () => (0.1 + rng()) * (rng() < 0.5 ? -1 : 1));
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-9): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++)
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!)));
  expect(worst).toBeLessThan(tol);
}

// ------------------------------------------------------------------ dense row-major helpers

/** x [rows, k] @ wᵀ with w [n, k] (+ bias [n]) -> [rows, n]. */
export function linearRows(x: ArrayLike<number>, rows: number, w: ArrayLike<number>, n: number, bias?: ArrayLike<number>): Float64Array {
  const k = x.length / rows;
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j]! : 0;
      for (let t = 0; t < k; t++) s += x[r * k + t]! * w[j * k + t]!;
      out[r * n + j] = s;
    }
  return out;
}

/** a [m, k] @ b [k, n] -> [m, n]. */
export function matmul(a: ArrayLike<number>, m: number, b: ArrayLike<number>, n: number): Float64Array {
  const k = a.length / m;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let t = 0; t < k; t++) out[i * n + j]! += a[i * k + t]! * b[t * n + j]!;
  return out;
}

export const zip = (a: ArrayLike<number>, b: ArrayLike<number>, f: (x: number, y: number) => number) =>
  Float64Array.from({ length: a.length }, (_, i) => f(a[i]!, b[i]!));

/** Broadcasts a per-feature vector over rows: f(x[r, j], v[j]). */
export const perFeature = (x: ArrayLike<number>, v: ArrayLike<number>, f: (x: number, v: number) => number) =>
  Float64Array.from({ length: x.length }, (_, i) => f(x[i]!, v[i % v.length]!));

/** Mean squared error against a target, the loss of the small test models. */
export function mse(out: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += (out[i]! - y[i]!) ** 2;
  return s / out.length;
}

// ------------------------------------------------------------------ small models

/** One Linear(5, 4) on x [B, 3, 5], trained to a target y by mean squared error. */
export const linearModel = (tunes: string) => `use std.nn

model L1 {
  input x: f32[B, 3, 5]
  input y: f32[B, 3, 4]
  lin = Linear(5, 4)
  forward {
    output out = lin(x)
    loss mean((out - y) * (out - y))
  }
}

tune base for L1 { train lin.bias }
${tunes}
`;

export const B = 2;
export const linearInputs = (): Inputs =>
  new Map([
    ['x', floats(B * 3 * 5, 11)],
    ['y', floats(B * 3 * 4, 12)],
  ]);
