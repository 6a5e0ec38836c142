/**
 * The whole op vocabulary of the tensor IR, with each op's typed attributes, its traits
 * (`opTraits`: what scheduling, fusion, folding and autodiff need to know) and its shape
 * rule. Everything else about an op (float64 reference, VJP, WGSL) lives in tables keyed by
 * `OpKind`, each a mapped type so that a missing entry is a compile error.
 */
import { type Dim, type Shape, isConcrete, numel, shapeToString } from '../../core/dim.ts';

export type DType = 'f32' | 'i32';

/** One axis of a `slice`: `[start, stop)`; `stop: null` means to the end of the axis. */
export interface SliceRange {
  readonly start: number;
  readonly stop: number | null;
}

export interface OpAttrs {
  // leaves
  param: { readonly name: string; readonly shape: Shape };
  input: { readonly name: string; readonly shape: Shape; readonly dtype: DType };
  /** A scalar; `denom` divides it by a symbolic size (e.g. 1/B for a batch mean), folded away by specialize. */
  const: { readonly value: number; readonly denom?: Dim };
  // unary elementwise
  neg: {};
  exp: {};
  log: {};
  tanh: {};
  sqrt: {};
  recip: {};
  sigmoid: {};
  relu: {};
  gelu: {};
  /** d gelu / dx, used by gelu's VJP; not itself differentiable. */
  gelu_grad: {};
  /** 1 where x > 0, else 0; used by relu's VJP. */
  step: {};
  // binary elementwise, numpy broadcasting
  add: {};
  sub: {};
  mul: {};
  div: {};
  /** 1 where a == b, else 0; used by max's VJP. */
  eq: {};
  // reductions
  sum: { readonly axes: readonly number[]; readonly keepdims: boolean };
  max: { readonly axes: readonly number[]; readonly keepdims: boolean };
  // contraction: a[..., M, K] @ b[..., K, N] with broadcast batch axes
  matmul: { readonly transA: boolean; readonly transB: boolean };
  // movement
  reshape: { readonly shape: Shape };
  permute: { readonly perm: readonly number[] };
  expand: { readonly shape: Shape };
  slice: { readonly ranges: readonly SliceRange[] };
  pad: { readonly before: readonly number[]; readonly after: readonly number[] };
  concat: { readonly axis: number };
  // indexing
  /** table[V, ...rest] indexed by ids[...idx] -> [...idx, ...rest]. */
  gather: {};
  /** The VJP of gather: sums rows of g[...idx, ...rest] into [rows, ...rest] at ids. */
  scatter_add: { readonly rows: number };
  /** labels i32[...] -> f32[..., classes]. */
  one_hot: { readonly classes: number };
  // row-wise ops over the last axis
  softmax: {};
  log_softmax: {};
  /** (x - mean) / sqrt(var + eps) over the last axis (layer norm without its affine part). */
  normalize: { readonly eps: number };
  /** d normalize(x) applied to dy: (x, dy) -> dx. */
  normalize_grad: { readonly eps: number };
  /** Identity whose gradient is zero: `stop_gradient` (DoRA's detached weight norm). */
  detach: {};
  /** Additive attention mask f32[rows, cols]: 0 where key j is visible to query i (j <= i + cols - rows), else -1e9. */
  causal_mask: { readonly rows: number; readonly cols: number };
  /** Keep-mask scaled by 1/(1-p), from a hash of (seed, salt, element index). Source: seed i32[]. */
  dropout_mask: { readonly shape: Shape; readonly p: number; readonly salt: number };
}

export type OpKind = keyof OpAttrs;

/**
 * What the stages after the shape rule need to know about an op, as data: the scheduler,
 * the renderer's fusion, constant folding and autodiff ask these instead of keeping their
 * own lists of op names. `tests/ops/traits.test.ts` checks that the traits agree with each
 * other and with the other tables (reference, VJP, WGSL).
 */
export interface OpTraits {
  /** A buffer bound from outside (param, input): no kernel computes it and gradients stop at it. */
  readonly leaf: boolean;
  /**
   * The output is its one source's elements in the same dense row-major order (reshape,
   * detach): it shares the source's buffer instead of being computed, and computed inside a
   * consumer's kernel it is an index identity (free, however often it is reloaded).
   */
  readonly alias: boolean;
  /**
   * Output element `i` depends on element `i` of each source only, broadcast by numpy rules:
   * `unary` and `binary` arithmetic, `broadcast` (expand: the source itself), or `generated`
   * from the index and a scalar source (dropout mask). Null for every other op.
   */
  readonly elementwise: 'unary' | 'binary' | 'broadcast' | 'generated' | null;
  /**
   * How a node that is the same scalar everywhere folds to a literal: `value` its own
   * `value` attribute (const), `source` the value of its one source when that is a literal
   * (a reshape, broadcast or detach of a scalar is that scalar), `evaluate` the float64
   * reference applied to its literal sources (arithmetic). Null: never a literal.
   */
  readonly folds: 'value' | 'source' | 'evaluate' | null;
  /**
   * Can be computed inside its single consumer's kernel, as a WGSL function of the element index
   * (f32 results only): elementwise ops, aliases, and the static index remaps permute and slice.
   */
  readonly fusable: boolean;
  /**
   * Its kernel may take fused producers. Not a concat (a large one is split into kernels over
   * parts of its sources) nor an alias (it gets a kernel only to copy a leaf into a buffer of its own).
   */
  readonly fusesProducers: boolean;
  /**
   * `a[..., M, K] @ b[..., K, N]`: its kernel reloads each operand element once per tile of the
   * other operand (the scheduler's reload cost model), and it can be the core of an epilogue kernel.
   */
  readonly contraction: boolean;
  /**
   * Its renderer writes every output element through `RenderCtx.store`, so it can be the core
   * of an epilogue kernel: an elementwise consumer (chain) applied to each result at the store
   * (compiler/fuse/schedule.ts). Matmuls, reductions and row ops. (Permutes and slices, also
   * storing through it, are fused into their consumers instead: `fusable`.)
   */
  readonly epilogueCore: boolean;
  /**
   * A kernel can write the part of its output that comes from a run of its sources (concat),
   * so one with more sources than a kernel can bind is split into several kernels.
   */
  readonly splitsOverSources: boolean;
  /** No gradient flows through it to its sources, and its output never requires grad (detach). */
  readonly stopsGradient: boolean;
}

const computed = {
  leaf: false,
  alias: false,
  elementwise: null,
  folds: null,
  fusable: false,
  fusesProducers: true,
  contraction: false,
  epilogueCore: false,
  splitsOverSources: false,
  stopsGradient: false,
} as const;
const leaf = { ...computed, leaf: true } as const;
const unary = { ...computed, elementwise: 'unary', folds: 'evaluate', fusable: true } as const;
const binary = { ...computed, elementwise: 'binary', folds: 'evaluate', fusable: true } as const;

export const opTraits = {
  param: leaf,
  input: leaf,
  const: { ...computed, folds: 'value' },
  neg: unary,
  exp: unary,
  log: unary,
  tanh: unary,
  sqrt: unary,
  recip: unary,
  sigmoid: unary,
  relu: unary,
  gelu: unary,
  gelu_grad: unary,
  step: unary,
  add: binary,
  sub: binary,
  mul: binary,
  div: binary,
  eq: binary,
  sum: { ...computed, epilogueCore: true },
  max: { ...computed, epilogueCore: true },
  matmul: { ...computed, contraction: true, epilogueCore: true },
  reshape: { ...computed, alias: true, folds: 'source', fusable: true, fusesProducers: false },
  permute: { ...computed, fusable: true },
  expand: { ...computed, elementwise: 'broadcast', folds: 'source', fusable: true },
  slice: { ...computed, fusable: true },
  pad: computed,
  concat: { ...computed, fusesProducers: false, splitsOverSources: true },
  gather: computed,
  scatter_add: computed,
  one_hot: { ...computed, fusable: true },
  softmax: { ...computed, epilogueCore: true },
  log_softmax: { ...computed, epilogueCore: true },
  normalize: { ...computed, epilogueCore: true },
  normalize_grad: { ...computed, epilogueCore: true },
  detach: { ...computed, alias: true, folds: 'source', fusable: true, fusesProducers: false, stopsGradient: true },
  causal_mask: { ...computed, fusable: true },
  dropout_mask: { ...computed, elementwise: 'generated', fusable: true },
} as const satisfies { readonly [K in OpKind]: OpTraits };

/** The ops whose traits include `T`, as a type (e.g. every unary elementwise op). */
type OpsWith<T> = { [K in OpKind]: (typeof opTraits)[K] extends T ? K : never }[OpKind];
export type UnaryOp = OpsWith<{ readonly elementwise: 'unary' }>;
export type BinaryOp = OpsWith<{ readonly elementwise: 'binary' }>;

export function isUnary(op: OpKind): op is UnaryOp {
  return opTraits[op].elementwise === 'unary';
}
export function isBinary(op: OpKind): op is BinaryOp {
  return opTraits[op].elementwise === 'binary';
}

/** Every op kind, in the tables' order (for tests and tools that loop over the vocabulary). */
export const opKinds = Object.keys(opTraits) as OpKind[];

/** What an op's shape rule sees of each source. */
export interface TensorType {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** A shape rule returns the output type, or a message that the caller turns into a located diagnostic. */
export type ShapeRule<K extends OpKind> = (srcs: readonly TensorType[], attrs: OpAttrs[K]) => TensorType | string;

export interface OpInfo<K extends OpKind> {
  /** Number of sources; `-1` for variadic (concat). */
  readonly arity: number;
  readonly infer: ShapeRule<K>;
}

const f32 = (shape: Shape): TensorType => ({ shape, dtype: 'f32' });

function needF32(srcs: readonly TensorType[], what: string): string | undefined {
  const bad = srcs.findIndex((s) => s.dtype !== 'f32');
  return bad >= 0 ? `${what} expects f32 tensors, got ${srcs[bad]!.dtype}` : undefined;
}

const unaryRule: ShapeRule<UnaryOp> = (srcs) => needF32(srcs, 'this op') ?? f32(srcs[0]!.shape);

/** Numpy broadcasting of two shapes, or an error message. */
export function broadcastShapes(a: Shape, b: Shape): Shape | string {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else return `shapes ${shapeToString(a)} and ${shapeToString(b)} do not broadcast (axis ${i - n}: ${x} vs ${y})`;
  }
  return out;
}

const binaryRule: ShapeRule<BinaryOp> = (srcs) => {
  const e = needF32(srcs, 'arithmetic');
  if (e) return e;
  const s = broadcastShapes(srcs[0]!.shape, srcs[1]!.shape);
  return typeof s === 'string' ? s : f32(s);
};

export function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}

const reduceRule: ShapeRule<'sum' | 'max'> = (srcs, attrs) => {
  const e = needF32(srcs, 'a reduction');
  if (e) return e;
  const shape = srcs[0]!.shape;
  for (const a of attrs.axes) if (a < 0 || a >= shape.length) return `reduction axis ${a} out of range for rank ${shape.length}`;
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (!attrs.axes.includes(i)) out.push(d);
    else if (attrs.keepdims) out.push(1);
  });
  return f32(out);
};

const rowRule: ShapeRule<'softmax' | 'log_softmax' | 'normalize'> = (srcs) => {
  const e = needF32(srcs, 'this op');
  if (e) return e;
  if (srcs[0]!.shape.length === 0) return 'expects a tensor of rank at least 1';
  return f32(srcs[0]!.shape);
};

export const opInfo: { readonly [K in OpKind]: OpInfo<K> } = {
  param: { arity: 0, infer: (_, a) => f32(a.shape) },
  input: { arity: 0, infer: (_, a) => ({ shape: a.shape, dtype: a.dtype }) },
  const: { arity: 0, infer: () => f32([]) },
  neg: { arity: 1, infer: unaryRule },
  exp: { arity: 1, infer: unaryRule },
  log: { arity: 1, infer: unaryRule },
  tanh: { arity: 1, infer: unaryRule },
  sqrt: { arity: 1, infer: unaryRule },
  recip: { arity: 1, infer: unaryRule },
  sigmoid: { arity: 1, infer: unaryRule },
  relu: { arity: 1, infer: unaryRule },
  gelu: { arity: 1, infer: unaryRule },
  gelu_grad: { arity: 1, infer: unaryRule },
  step: { arity: 1, infer: unaryRule },
  add: { arity: 2, infer: binaryRule },
  sub: { arity: 2, infer: binaryRule },
  mul: { arity: 2, infer: binaryRule },
  div: { arity: 2, infer: binaryRule },
  eq: { arity: 2, infer: binaryRule },
  sum: { arity: 1, infer: reduceRule },
  max: { arity: 1, infer: reduceRule },
  matmul: {
    arity: 2,
    infer: (srcs, attrs) => {
      const e = needF32(srcs, 'matmul');
      if (e) return e;
      const [a, b] = [srcs[0]!.shape, srcs[1]!.shape];
      if (a.length < 2 || b.length < 2) return `matmul needs operands of rank ≥ 2, got ${shapeToString(a)} @ ${shapeToString(b)}`;
      const m = attrs.transA ? a[a.length - 1]! : a[a.length - 2]!;
      const ka = attrs.transA ? a[a.length - 2]! : a[a.length - 1]!;
      const kb = attrs.transB ? b[b.length - 1]! : b[b.length - 2]!;
      const n = attrs.transB ? b[b.length - 2]! : b[b.length - 1]!;
      if (ka !== kb) {
        return `matmul inner dimensions differ: ${shapeToString(a)}${attrs.transA ? 'ᵀ' : ''} @ ${shapeToString(b)}${attrs.transB ? 'ᵀ' : ''} (${ka} vs ${kb})`;
      }
      const batch = broadcastShapes(a.slice(0, -2), b.slice(0, -2));
      if (typeof batch === 'string') return `matmul batch axes: ${batch}`;
      return f32([...batch, m, n]);
    },
  },
  reshape: {
    arity: 1,
    infer: (srcs, attrs) => {
      const from = numel(srcs[0]!.shape);
      const to = numel(attrs.shape);
      if (from !== to)
        return `cannot reshape ${shapeToString(srcs[0]!.shape)} (${from} elements) to ${shapeToString(attrs.shape)} (${to} elements)`;
      return { shape: attrs.shape, dtype: srcs[0]!.dtype };
    },
  },
  permute: {
    arity: 1,
    infer: (srcs, attrs) => {
      const s = srcs[0]!.shape;
      const sorted = [...attrs.perm].sort((x, y) => x - y);
      if (attrs.perm.length !== s.length || sorted.some((v, i) => v !== i)) {
        return `permutation [${attrs.perm.join(', ')}] does not fit a tensor of rank ${s.length}`;
      }
      return { shape: attrs.perm.map((p) => s[p]!), dtype: srcs[0]!.dtype };
    },
  },
  expand: {
    arity: 1,
    infer: (srcs, attrs) => {
      const s = srcs[0]!.shape;
      if (s.length !== attrs.shape.length) return `expand needs equal ranks, got ${shapeToString(s)} to ${shapeToString(attrs.shape)}`;
      for (let i = 0; i < s.length; i++) {
        if (s[i] !== 1 && s[i] !== attrs.shape[i]) return `cannot expand ${shapeToString(s)} to ${shapeToString(attrs.shape)}`;
      }
      return { shape: attrs.shape, dtype: srcs[0]!.dtype };
    },
  },
  slice: {
    arity: 1,
    infer: (srcs, attrs) => {
      const s = srcs[0]!.shape;
      if (attrs.ranges.length !== s.length) return `slice needs one range per axis (${s.length}), got ${attrs.ranges.length}`;
      const out: Dim[] = [];
      for (let i = 0; i < s.length; i++) {
        const r = attrs.ranges[i]!;
        const d = s[i]!;
        if (r.start === 0 && r.stop === null) {
          out.push(d);
          continue;
        }
        if (!isConcrete(d)) return `cannot slice symbolic axis ${i} of size ${d}`;
        const stop = r.stop ?? d;
        if (r.start < 0 || stop > d || r.start >= stop)
          return `slice ${r.start}:${stop} is empty or out of range for axis ${i} of size ${d}`;
        out.push(stop - r.start);
      }
      return { shape: out, dtype: srcs[0]!.dtype };
    },
  },
  pad: {
    arity: 1,
    infer: (srcs, attrs) => {
      const s = srcs[0]!.shape;
      if (attrs.before.length !== s.length || attrs.after.length !== s.length) return `pad needs one amount per axis`;
      const out: Dim[] = [];
      for (let i = 0; i < s.length; i++) {
        const extra = attrs.before[i]! + attrs.after[i]!;
        const d = s[i]!;
        if (extra === 0) out.push(d);
        else if (!isConcrete(d)) return `cannot pad symbolic axis ${i}`;
        else out.push(d + extra);
      }
      return f32(out);
    },
  },
  concat: {
    arity: -1,
    infer: (srcs, attrs) => {
      if (srcs.length === 0) return 'concat needs at least one tensor';
      const first = srcs[0]!.shape;
      const ax = attrs.axis;
      if (ax < 0 || ax >= first.length) return `concat axis ${ax} out of range for rank ${first.length}`;
      let total = 0;
      for (const s of srcs) {
        if (s.shape.length !== first.length) return `concat needs equal ranks, got ${shapeToString(first)} and ${shapeToString(s.shape)}`;
        for (let i = 0; i < first.length; i++) {
          if (i !== ax && s.shape[i] !== first[i])
            return `concat shapes differ off the concat axis: ${shapeToString(first)} and ${shapeToString(s.shape)}`;
        }
        const d = s.shape[ax]!;
        if (!isConcrete(d)) return `cannot concat along symbolic axis of size ${d}`;
        total += d;
      }
      const out = [...first];
      out[ax] = total;
      return { shape: out, dtype: srcs[0]!.dtype };
    },
  },
  gather: {
    arity: 2,
    infer: (srcs) => {
      const [table, ids] = [srcs[0]!, srcs[1]!];
      if (table.dtype !== 'f32' || ids.dtype !== 'i32') return `gather expects (f32 table, i32 ids), got (${table.dtype}, ${ids.dtype})`;
      if (table.shape.length < 1) return 'gather needs a table of rank ≥ 1';
      return f32([...ids.shape, ...table.shape.slice(1)]);
    },
  },
  scatter_add: {
    arity: 2,
    infer: (srcs, attrs) => {
      const [ids, g] = [srcs[0]!, srcs[1]!];
      if (ids.dtype !== 'i32' || g.dtype !== 'f32') return `scatter_add expects (i32 ids, f32 values)`;
      const n = ids.shape.length;
      if (g.shape.length < n || ids.shape.some((d, i) => g.shape[i] !== d))
        return `scatter_add values ${shapeToString(g.shape)} do not start with ids shape ${shapeToString(ids.shape)}`;
      return f32([attrs.rows, ...g.shape.slice(n)]);
    },
  },
  one_hot: {
    arity: 1,
    infer: (srcs, attrs) =>
      srcs[0]!.dtype !== 'i32' ? `one_hot expects i32 labels, got ${srcs[0]!.dtype}` : f32([...srcs[0]!.shape, attrs.classes]),
  },
  softmax: { arity: 1, infer: rowRule },
  log_softmax: { arity: 1, infer: rowRule },
  normalize: { arity: 1, infer: rowRule },
  normalize_grad: {
    arity: 2,
    infer: (srcs) => {
      const e = needF32(srcs, 'normalize_grad');
      if (e) return e;
      if (srcs[0]!.shape.length !== srcs[1]!.shape.length || srcs[0]!.shape.some((d, i) => srcs[1]!.shape[i] !== d))
        return 'normalize_grad needs x and dy of one shape';
      return f32(srcs[0]!.shape);
    },
  },
  detach: { arity: 1, infer: (srcs) => needF32(srcs, 'detach') ?? f32(srcs[0]!.shape) },
  causal_mask: {
    arity: 0,
    infer: (_, a) =>
      a.rows > 0 && a.cols >= a.rows ? f32([a.rows, a.cols]) : `causal_mask needs 0 < rows <= cols, got ${a.rows}×${a.cols}`,
  },
  dropout_mask: {
    arity: 1,
    infer: (srcs, attrs) => {
      if (srcs[0]!.dtype !== 'i32' || srcs[0]!.shape.length !== 0) return 'dropout_mask needs a scalar i32 seed';
      if (!(attrs.p >= 0 && attrs.p < 1)) return `dropout probability must be in [0, 1), got ${attrs.p}`;
      return f32(attrs.shape);
    },
  },
};
