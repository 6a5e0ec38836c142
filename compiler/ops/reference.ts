/**
 * The float64 reference semantics of every op: the executable definition that kernels and
 * gradients are checked against. Clarity over speed, but no per-element allocation, so it
 * can run small real models. Tensors are row-major and contiguous; i32 tensors are stored
 * as Float64Arrays holding integers.
 */
import { dropoutKeeps } from './hash.ts';
import type { OpAttrs, OpKind } from './kinds.ts';
import { elementCount, stridesOf } from '../../core/dim.ts';

export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

/** Computes one op's output from its evaluated sources; `out.shape` comes from the shape rule. */
export type RefOp<K extends OpKind> = (srcs: readonly RefTensor[], attrs: OpAttrs[K], out: { shape: number[] }) => Float64Array;

// ------------------------------------------------------------------ strided views

/**
 * Walks every index of `shape` in row-major order, calling `fn` with the flat position
 * `offset + Σ idx[i]·strides[i]`. Permute, expand, slice and broadcasting are all this one
 * walk with different strides (0 for a broadcast axis), so they share one implementation.
 */
function walk(shape: readonly number[], strides: readonly number[], offset: number, fn: (pos: number, i: number) => void): void {
  const n = elementCount(shape);
  if (n === 0) return;
  const r = shape.length;
  const idx = new Array<number>(r).fill(0);
  let pos = offset;
  for (let i = 0; i < n; i++) {
    fn(pos, i);
    for (let ax = r - 1; ax >= 0; ax--) {
      idx[ax]!++;
      pos += strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      pos -= strides[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
}

/** Gathers a strided view of `data` into a new contiguous array. */
function view(data: Float64Array, shape: readonly number[], strides: readonly number[], offset = 0): Float64Array {
  const out = new Float64Array(elementCount(shape));
  walk(shape, strides, offset, (pos, i) => (out[i] = data[pos]!));
  return out;
}

/** Strides that read a tensor of `shape` as if broadcast (numpy rules) to `target`. */
function broadcastStrides(shape: readonly number[], target: readonly number[]): number[] {
  const s = stridesOf(shape);
  const lead = target.length - shape.length;
  return target.map((d, i) => (i < lead || shape[i - lead] !== d ? 0 : s[i - lead]!));
}

function broadcastTo(t: RefTensor, target: readonly number[]): Float64Array {
  if (t.shape.length === target.length && t.shape.every((d, i) => d === target[i])) return t.data;
  return view(t.data, target, broadcastStrides(t.shape, target));
}

// ------------------------------------------------------------------ scalar math

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * erf for |x| < 1.5 by the all-positive series erf(x) = 2/√π·e^{−x²}·Σ 2ⁿx^{2n+1}/(2n+1)!!,
 * which has no cancellation; beyond that, erfc by its continued fraction (80 terms are
 * enough there). Checked against mpmath on [−8, 8]: erf to 1e-15 absolute, erfc to 1e-14
 * relative.
 */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 0; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (2 * x2) / (2 * n + 3);
    sum += term;
  }
  return 2 * INV_SQRT_PI * Math.exp(-x2) * sum;
}

/** erfc(x) for x ≥ 1.5: e^{−x²}/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))). */
function erfcFraction(x: number): number {
  let f = x;
  for (let k = 80; k >= 1; k--) f = x + k / 2 / f;
  return (Math.exp(-x * x) * INV_SQRT_PI) / f;
}

const ERF_SPLIT = 1.5;

export function erf(x: number): number {
  const a = Math.abs(x);
  const v = a < ERF_SPLIT ? erfSeries(a) : 1 - erfcFraction(a);
  return x < 0 ? -v : v;
}

/** erfc without cancellation in its right tail, so gelu stays accurate for very negative x. */
export function erfc(x: number): number {
  return x < ERF_SPLIT ? 1 - erf(x) : erfcFraction(x);
}

/** Exact GELU: 0.5·x·(1 + erf(x/√2)) = 0.5·x·erfc(−x/√2). */
export function gelu(x: number): number {
  return 0.5 * x * erfc(-x * SQRT1_2);
}

/** d/dx gelu = Φ(x) + x·φ(x). */
export function geluGrad(x: number): number {
  return 0.5 * erfc(-x * SQRT1_2) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

function sigmoid(x: number): number {
  // Two branches so exp never overflows.
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

// ------------------------------------------------------------------ op families

function unary(f: (x: number) => number): RefOp<OpKind> {
  return (srcs) => srcs[0]!.data.map(f);
}

function binary(f: (a: number, b: number) => number): RefOp<OpKind> {
  return (srcs, _attrs, out) => {
    const a = broadcastTo(srcs[0]!, out.shape);
    const b = broadcastTo(srcs[1]!, out.shape);
    const r = new Float64Array(a.length);
    for (let i = 0; i < r.length; i++) r[i] = f(a[i]!, b[i]!);
    return r;
  };
}

/** Moves the reduced axes last, so each output element reduces one contiguous run. */
function reduce(init: number, f: (acc: number, x: number) => number): RefOp<'sum' | 'max'> {
  return (srcs, attrs) => {
    const x = srcs[0]!;
    const kept = x.shape.map((_, i) => i).filter((i) => !attrs.axes.includes(i));
    const perm = [...kept, ...attrs.axes];
    const st = stridesOf(x.shape);
    const data = view(
      x.data,
      perm.map((p) => x.shape[p]!),
      perm.map((p) => st[p]!),
    );
    const run = elementCount(attrs.axes.map((a) => x.shape[a]!));
    const out = new Float64Array(elementCount(kept.map((k) => x.shape[k]!)));
    for (let o = 0; o < out.length; o++) {
      let acc = init;
      for (let j = 0; j < run; j++) acc = f(acc, data[o * run + j]!);
      out[o] = acc;
    }
    return out;
  };
}

/** Applies `f` to each row along the last axis, writing the result row into `dst`. */
function rowwise(srcs: readonly RefTensor[], f: (rows: Float64Array[], dst: Float64Array) => void): Float64Array {
  const shape = srcs[0]!.shape;
  const n = shape[shape.length - 1]!;
  const out = new Float64Array(elementCount(shape));
  for (let off = 0; off < out.length; off += n) {
    f(
      srcs.map((s) => s.data.subarray(off, off + n)),
      out.subarray(off, off + n),
    );
  }
  return out;
}

function rowMax(x: Float64Array): number {
  let m = -Infinity;
  for (const v of x) if (v > m) m = v;
  return m;
}

/** Mean and 1/sqrt(biased var + eps) of one row. */
function rowStats(x: Float64Array, eps: number): { mean: number; rstd: number } {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let v2 = 0;
  for (const v of x) v2 += (v - mean) * (v - mean);
  return { mean, rstd: 1 / Math.sqrt(v2 / x.length + eps) };
}

/** An id used as a row index, checked: a bad id is a data error the user must see. */
function rowIndex(id: number, rows: number, what: string): number {
  if (!Number.isInteger(id) || id < 0 || id >= rows)
    throw new Error(`${what}: id ${id} is out of range for ${rows} rows (valid ids are 0..${rows - 1})`);
  return id;
}

const leaf = (): never => {
  throw new Error('leaf: param and input values are supplied by the executor');
};

// ------------------------------------------------------------------ the table

export const referenceOps: { readonly [K in OpKind]: RefOp<K> } = {
  param: leaf,
  input: leaf,
  const: (_srcs, attrs) => {
    // `denom` is a symbolic size that specialize folds into the value; a number here is just a divisor.
    const { value, denom } = attrs;
    if (denom === undefined) return Float64Array.of(value);
    if (typeof denom !== 'number') throw new Error(`const ${value}/${denom} is symbolic; specialize the graph before running it`);
    return Float64Array.of(value / denom);
  },

  neg: unary((x) => -x),
  exp: unary(Math.exp),
  log: unary(Math.log),
  tanh: unary(Math.tanh),
  sqrt: unary(Math.sqrt),
  recip: unary((x) => 1 / x),
  sigmoid: unary(sigmoid),
  relu: unary((x) => (x > 0 ? x : 0)),
  gelu: unary(gelu),
  gelu_grad: unary(geluGrad),
  step: unary((x) => (x > 0 ? 1 : 0)),

  add: binary((a, b) => a + b),
  sub: binary((a, b) => a - b),
  mul: binary((a, b) => a * b),
  div: binary((a, b) => a / b),
  eq: binary((a, b) => (a === b ? 1 : 0)),

  sum: reduce(0, (acc, x) => acc + x),
  max: reduce(-Infinity, (acc, x) => (x > acc ? x : acc)),

  matmul: (srcs, attrs, out) => {
    const [a, b] = [srcs[0]!, srcs[1]!];
    const r = out.shape.length;
    const [M, N] = [out.shape[r - 2]!, out.shape[r - 1]!];
    const K = attrs.transA ? a.shape[a.shape.length - 2]! : a.shape[a.shape.length - 1]!;
    // Element (i, j) of op(X) for a matrix stored with `cols` columns at `off`.
    const aAt = attrs.transA
      ? (off: number, m: number, k: number) => off + k * M + m
      : (off: number, m: number, k: number) => off + m * K + k;
    const bAt = attrs.transB
      ? (off: number, k: number, n: number) => off + n * K + k
      : (off: number, k: number, n: number) => off + k * N + n;
    // The matrix index each output batch reads from a and b, broadcasting batch axes.
    const batch = out.shape.slice(0, -2);
    const batchOf = (x: RefTensor): Float64Array => {
      const xb = x.shape.slice(0, -2);
      const ids = Float64Array.from({ length: elementCount(xb) }, (_, i) => i);
      return view(ids, batch, broadcastStrides(xb, batch));
    };
    const [ab, bb] = [batchOf(a), batchOf(b)];
    const res = new Float64Array(elementCount(out.shape));
    for (let p = 0; p < ab.length; p++) {
      const [ao, bo, oo] = [ab[p]! * M * K, bb[p]! * K * N, p * M * N];
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let acc = 0;
          for (let k = 0; k < K; k++) acc += a.data[aAt(ao, m, k)]! * b.data[bAt(bo, k, n)]!;
          res[oo + m * N + n] = acc;
        }
      }
    }
    return res;
  },

  reshape: (srcs) => srcs[0]!.data.slice(),
  permute: (srcs, attrs) => {
    const x = srcs[0]!;
    const st = stridesOf(x.shape);
    return view(
      x.data,
      attrs.perm.map((p) => x.shape[p]!),
      attrs.perm.map((p) => st[p]!),
    );
  },
  expand: (srcs, _attrs, out) => broadcastTo(srcs[0]!, out.shape).slice(),
  slice: (srcs, attrs, out) => {
    const x = srcs[0]!;
    const st = stridesOf(x.shape);
    const offset = attrs.ranges.reduce((acc, r, i) => acc + r.start * st[i]!, 0);
    return view(x.data, out.shape, st, offset);
  },
  pad: (srcs, attrs, out) => {
    const x = srcs[0]!;
    const st = stridesOf(out.shape);
    const res = new Float64Array(elementCount(out.shape));
    const offset = attrs.before.reduce((acc, b, i) => acc + b * st[i]!, 0);
    walk(x.shape, st, offset, (pos, i) => (res[pos] = x.data[i]!));
    return res;
  },
  concat: (srcs, attrs, out) => {
    const st = stridesOf(out.shape);
    const res = new Float64Array(elementCount(out.shape));
    let at = 0;
    for (const s of srcs) {
      walk(s.shape, st, at * st[attrs.axis]!, (pos, i) => (res[pos] = s.data[i]!));
      at += s.shape[attrs.axis]!;
    }
    return res;
  },

  gather: (srcs, _attrs, out) => {
    const [table, ids] = [srcs[0]!, srcs[1]!];
    const V = table.shape[0]!;
    const row = elementCount(table.shape.slice(1));
    const res = new Float64Array(elementCount(out.shape));
    ids.data.forEach((id, i) => {
      const base = rowIndex(id, V, 'gather') * row;
      res.set(table.data.subarray(base, base + row), i * row);
    });
    return res;
  },
  scatter_add: (srcs, attrs, out) => {
    const [ids, g] = [srcs[0]!, srcs[1]!];
    const row = elementCount(out.shape.slice(1));
    const res = new Float64Array(elementCount(out.shape));
    ids.data.forEach((id, i) => {
      const base = rowIndex(id, attrs.rows, 'scatter_add') * row;
      for (let j = 0; j < row; j++) res[base + j]! += g.data[i * row + j]!;
    });
    return res;
  },
  // A label outside [0, classes) gives an all-zero row (the kernel's `label == c` test does the
  // same), so a negative label works as "ignore this position" in a cross-entropy.
  detach: (srcs) => srcs[0]!.data.slice(),
  causal_mask: (_, attrs) => {
    const out = new Float64Array(attrs.rows * attrs.cols);
    const shift = attrs.cols - attrs.rows;
    for (let i = 0; i < attrs.rows; i++) for (let j = 0; j < attrs.cols; j++) out[i * attrs.cols + j] = j <= i + shift ? 0 : -1e9;
    return out;
  },
  one_hot: (srcs, attrs) => {
    const labels = srcs[0]!.data;
    const res = new Float64Array(labels.length * attrs.classes);
    labels.forEach((l, i) => {
      if (Number.isInteger(l) && l >= 0 && l < attrs.classes) res[i * attrs.classes + l] = 1;
    });
    return res;
  },

  softmax: (srcs) =>
    rowwise(srcs, ([x], y) => {
      const m = rowMax(x!);
      let s = 0;
      x!.forEach((v, j) => (s += y[j] = Math.exp(v - m)));
      for (let j = 0; j < y.length; j++) y[j]! /= s;
    }),
  log_softmax: (srcs) =>
    rowwise(srcs, ([x], y) => {
      const m = rowMax(x!);
      let s = 0;
      for (const v of x!) s += Math.exp(v - m);
      const lse = m + Math.log(s);
      x!.forEach((v, j) => (y[j] = v - lse));
    }),
  normalize: (srcs, attrs) =>
    rowwise(srcs, ([x], y) => {
      const { mean, rstd } = rowStats(x!, attrs.eps);
      x!.forEach((v, j) => (y[j] = (v - mean) * rstd));
    }),
  // With x̂ = normalize(x): dx = rstd·(dy − mean(dy) − x̂·mean(dy·x̂)).
  normalize_grad: (srcs, attrs) =>
    rowwise(srcs, ([x, dy], dx) => {
      const { mean, rstd } = rowStats(x!, attrs.eps);
      const n = x!.length;
      let mdy = 0;
      let mdyx = 0;
      for (let j = 0; j < n; j++) {
        mdy += dy![j]!;
        mdyx += dy![j]! * (x![j]! - mean) * rstd;
      }
      mdy /= n;
      mdyx /= n;
      for (let j = 0; j < n; j++) dx[j] = rstd * (dy![j]! - mdy - (x![j]! - mean) * rstd * mdyx);
    }),

  dropout_mask: (srcs, attrs, out) => {
    const seed = srcs[0]!.data[0]!;
    const scale = 1 / (1 - attrs.p);
    return Float64Array.from({ length: elementCount(out.shape) }, (_, i) => (dropoutKeeps(seed, attrs.salt, i, attrs.p) ? scale : 0));
  },
};
