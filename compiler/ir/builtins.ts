/**
 * The functions a forward body can call: thin, checked front ends over IR ops.
 * Composite functions (layer_norm, cross_entropy, mean) expand into primitives here,
 * so autodiff and codegen only ever see the primitive vocabulary.
 */
import { CompileError, error, suggestion } from '../diag/diagnostic.ts';
import type { Span } from '../diag/span.ts';
import { type Dim, dimDiv, isConcrete, numel, shapeToString } from './dim.ts';
import type { GraphBuilder, NodeId } from './graph.ts';
import { describeValue, tensor, type Value } from './value.ts';
import type { UnaryOp } from '../ops/kinds.ts';

export interface LowerOps {
  readonly b: GraphBuilder;
  tensorOf(v: Value, at: Span): NodeId;
  intOf(v: Value, at: Span): number;
  dropout(x: NodeId, p: number, at: Span): NodeId;
  matmul(a: NodeId, b: NodeId, at: Span): NodeId;
}

interface ParamSpec {
  readonly name: string;
  /** Undefined = required. */
  readonly default?: Value;
}

export interface CallArg {
  readonly name?: string;
  readonly value: Value;
  readonly span: Span;
}

type Args = Record<string, { value: Value; span: Span }>;

export interface Builtin {
  readonly params: readonly ParamSpec[];
  readonly doc: string;
  call(ops: LowerOps, args: readonly CallArg[], nameSpan: Span, at: Span): Value;
}

const NONE: Value = { kind: 'none' };

function define(name: string, doc: string, params: ParamSpec[], fn: (ops: LowerOps, a: Args, at: Span) => Value): Builtin {
  return {
    params,
    doc,
    call(ops, args, nameSpan, at) {
      const bound: Args = {};
      let pos = 0;
      for (const a of args) {
        const p = a.name ? params.find((x) => x.name === a.name) : params[pos++];
        if (!p) {
          if (a.name) throw new CompileError(error('name', `\`${name}\` has no argument \`${a.name}\``, a.span, suggestion(a.name, params.map((x) => x.name), `\`${name}\` takes ${params.map((x) => x.name).join(', ')}`)));
          throw new CompileError(error('type', `\`${name}\` takes at most ${params.length} argument(s)`, a.span));
        }
        if (bound[p.name]) throw new CompileError(error('type', `argument \`${p.name}\` is given twice`, a.span));
        bound[p.name] = { value: a.value, span: a.span };
      }
      for (const p of params) {
        if (bound[p.name]) continue;
        if (p.default === undefined) throw new CompileError(error('type', `\`${name}\` needs argument \`${p.name}\``, nameSpan));
        bound[p.name] = { value: p.default, span: at };
      }
      return fn(ops, bound, at);
    },
  };
}

const T = (ops: LowerOps, a: Args, k: string) => ops.tensorOf(a[k]!.value, a[k]!.span);

function num(a: Args, k: string): number {
  const v = a[k]!.value;
  if ((v.kind === 'int' && isConcrete(v.v)) || v.kind === 'float') return Number(v.v);
  throw new CompileError(error('type', `\`${k}\` must be a number, got ${describeValue(v)}`, a[k]!.span));
}

function bool(a: Args, k: string): boolean {
  const v = a[k]!.value;
  if (v.kind === 'bool') return v.v;
  throw new CompileError(error('type', `\`${k}\` must be a bool, got ${describeValue(v)}`, a[k]!.span));
}

function axisOf(ops: LowerOps, a: Args, k: string, rank: number): number {
  const i = ops.intOf(a[k]!.value, a[k]!.span);
  const ax = i < 0 ? i + rank : i;
  if (ax < 0 || ax >= rank) throw new CompileError(error('shape', `axis ${i} is out of range for a tensor of rank ${rank}`, a[k]!.span));
  return ax;
}

/** `dim` as none (all axes), an int, or a list of ints. */
function axesOf(ops: LowerOps, a: Args, k: string, rank: number): number[] {
  const v = a[k]!.value;
  if (v.kind === 'none') return [...Array(rank).keys()];
  const items = v.kind === 'list' ? v.items : [v];
  const out = items.map((it) => {
    const i = ops.intOf(it, a[k]!.span);
    const ax = i < 0 ? i + rank : i;
    if (ax < 0 || ax >= rank) throw new CompileError(error('shape', `axis ${i} is out of range for a tensor of rank ${rank}`, a[k]!.span));
    return ax;
  });
  return [...new Set(out)].sort((x, y) => x - y);
}

/** Applies a last-axis op along any axis by moving that axis last and back. */
function alongAxis(b: GraphBuilder, x: NodeId, axis: number, f: (y: NodeId) => NodeId, at: Span): NodeId {
  const r = b.shape(x).length;
  if (axis === r - 1) return f(x);
  const perm = [...Array(r).keys()].filter((i) => i !== axis).concat(axis);
  const inv = perm.map((_, i) => perm.indexOf(i));
  return b.permute(f(b.permute(x, perm, at)), inv, at);
}

export function meanOver(b: GraphBuilder, x: NodeId, axes: readonly number[], keepdims: boolean, at: Span): NodeId {
  const shape = b.shape(x);
  const count: Dim = numel(axes.map((i) => shape[i]!));
  const s = b.sum(x, axes, keepdims, at);
  return b.mul(s, b.op('const', [], isConcrete(count) ? { value: 1 / count } : { value: 1, denom: count }, at), at);
}

function unary(op: UnaryOp, doc: string): Builtin {
  return define(op, doc, [{ name: 'x' }], (ops, a, at) => {
    const v = a.x!.value;
    if (op === 'sqrt' && v.kind !== 'tensor') return { kind: 'float', v: Math.sqrt(num(a, 'x')) };
    if (op === 'exp' && v.kind !== 'tensor') return { kind: 'float', v: Math.exp(num(a, 'x')) };
    if (op === 'log' && v.kind !== 'tensor') return { kind: 'float', v: Math.log(num(a, 'x')) };
    return tensor(ops.b.op(op, [T(ops, a, 'x')], {}, at));
  });
}

export const builtins: Readonly<Record<string, Builtin>> = {
  exp: unary('exp', 'elementwise e^x'),
  log: unary('log', 'elementwise natural log'),
  tanh: unary('tanh', 'elementwise tanh'),
  sqrt: unary('sqrt', 'elementwise square root (also on scalars)'),
  sigmoid: unary('sigmoid', 'elementwise logistic function'),
  relu: unary('relu', 'elementwise max(x, 0)'),
  gelu: unary('gelu', 'exact (erf) GELU, as BERT and ViT use'),
  softmax: define('softmax', 'softmax along `dim`', [{ name: 'x' }, { name: 'dim', default: { kind: 'int', v: -1 } }], (ops, a, at) => {
    const x = T(ops, a, 'x');
    const ax = axisOf(ops, a, 'dim', ops.b.shape(x).length);
    return tensor(alongAxis(ops.b, x, ax, (y) => ops.b.op('softmax', [y], {}, at), at));
  }),
  log_softmax: define('log_softmax', 'log of softmax along `dim`', [{ name: 'x' }, { name: 'dim', default: { kind: 'int', v: -1 } }], (ops, a, at) => {
    const x = T(ops, a, 'x');
    const ax = axisOf(ops, a, 'dim', ops.b.shape(x).length);
    return tensor(alongAxis(ops.b, x, ax, (y) => ops.b.op('log_softmax', [y], {}, at), at));
  }),
  layer_norm: define(
    'layer_norm',
    'normalise over the last axis, then scale by `weight` and shift by `bias` (either may be none)',
    [{ name: 'x' }, { name: 'weight', default: NONE }, { name: 'bias', default: NONE }, { name: 'eps', default: { kind: 'float', v: 1e-5 } }],
    (ops, a, at) => {
      let y = ops.b.op('normalize', [T(ops, a, 'x')], { eps: num(a, 'eps') }, at);
      if (a.weight!.value.kind !== 'none') y = ops.b.mul(y, T(ops, a, 'weight'), at);
      if (a.bias!.value.kind !== 'none') y = ops.b.add(y, T(ops, a, 'bias'), at);
      return tensor(y);
    },
  ),
  sum: define('sum', 'sum over `dim` (none = all axes)', [{ name: 'x' }, { name: 'dim', default: NONE }, { name: 'keepdim', default: { kind: 'bool', v: false } }], (ops, a, at) => {
    const x = T(ops, a, 'x');
    return tensor(ops.b.sum(x, axesOf(ops, a, 'dim', ops.b.shape(x).length), bool(a, 'keepdim'), at));
  }),
  mean: define('mean', 'mean over `dim` (none = all axes)', [{ name: 'x' }, { name: 'dim', default: NONE }, { name: 'keepdim', default: { kind: 'bool', v: false } }], (ops, a, at) => {
    const x = T(ops, a, 'x');
    return tensor(meanOver(ops.b, x, axesOf(ops, a, 'dim', ops.b.shape(x).length), bool(a, 'keepdim'), at));
  }),
  max: define('max', 'maximum over `dim` (none = all axes)', [{ name: 'x' }, { name: 'dim', default: NONE }, { name: 'keepdim', default: { kind: 'bool', v: false } }], (ops, a, at) => {
    const x = T(ops, a, 'x');
    return tensor(ops.b.op('max', [x], { axes: axesOf(ops, a, 'dim', ops.b.shape(x).length), keepdims: bool(a, 'keepdim') }, at));
  }),
  reshape: define('reshape', 'new shape with the same number of elements; one entry may be -1', [{ name: 'x' }, { name: 'shape' }], (ops, a, at) => {
    const x = T(ops, a, 'x');
    const v = a.shape!.value;
    if (v.kind !== 'list') throw new CompileError(error('type', `\`shape\` must be a list like [B, T, 4], got ${describeValue(v)}`, a.shape!.span));
    const dims: (Dim | -1)[] = v.items.map((it) => {
      if (it.kind === 'int') return it.v === -1 ? -1 : it.v;
      throw new CompileError(error('type', `shape entries must be integers, got ${describeValue(it)}`, a.shape!.span));
    });
    const holes = dims.filter((d) => d === -1).length;
    if (holes > 1) throw new CompileError(error('shape', 'at most one -1 in a reshape', a.shape!.span));
    let shape = dims as Dim[];
    if (holes === 1) {
      const known = numel(dims.filter((d) => d !== -1) as Dim[]);
      const rest = dimDiv(numel(ops.b.shape(x)), known);
      if (rest === undefined) throw new CompileError(error('shape', `cannot reshape ${shapeToString(ops.b.shape(x))} to [${dims.join(', ')}]`, at));
      shape = dims.map((d) => (d === -1 ? rest : d));
    }
    return tensor(ops.b.reshape(x, shape, at));
  }),
  transpose: define('transpose', 'swap axes `dim0` and `dim1`', [{ name: 'x' }, { name: 'dim0' }, { name: 'dim1' }], (ops, a, at) => {
    const x = T(ops, a, 'x');
    const r = ops.b.shape(x).length;
    const [i, j] = [axisOf(ops, a, 'dim0', r), axisOf(ops, a, 'dim1', r)];
    const perm = [...Array(r).keys()];
    perm[i] = j;
    perm[j] = i;
    return tensor(ops.b.permute(x, perm, at));
  }),
  permute: define('permute', 'reorder axes', [{ name: 'x' }, { name: 'dims' }], (ops, a, at) => {
    const x = T(ops, a, 'x');
    const v = a.dims!.value;
    if (v.kind !== 'list') throw new CompileError(error('type', '`dims` must be a list of axes', a.dims!.span));
    return tensor(ops.b.op('permute', [x], { perm: v.items.map((i) => ops.intOf(i, a.dims!.span)) }, at));
  }),
  gather: define('gather', 'rows of `table` at integer `ids` (an embedding lookup)', [{ name: 'table' }, { name: 'ids' }], (ops, a, at) =>
    tensor(ops.b.op('gather', [T(ops, a, 'table'), T(ops, a, 'ids')], {}, at)),
  ),
  concat: define('concat', 'join a list of tensors along `dim`', [{ name: 'xs' }, { name: 'dim', default: { kind: 'int', v: 0 } }], (ops, a, at) => {
    const v = a.xs!.value;
    if (v.kind !== 'list' || v.items.length === 0) throw new CompileError(error('type', '`xs` must be a non-empty list of tensors', a.xs!.span));
    const ids = v.items.map((it) => ops.tensorOf(it, a.xs!.span));
    const ax = axisOf(ops, a, 'dim', ops.b.shape(ids[0]!).length);
    return tensor(ids.length === 1 ? ids[0]! : ops.b.op('concat', ids, { axis: ax }, at));
  }),
  dropout: define('dropout', 'inverted dropout with probability `p` (training graphs only)', [{ name: 'x' }, { name: 'p' }], (ops, a, at) => {
    const p = num(a, 'p');
    if (!(p >= 0 && p < 1)) throw new CompileError(error('value', `dropout probability must be in [0, 1), got ${p}`, a.p!.span));
    return tensor(ops.dropout(T(ops, a, 'x'), p, at));
  }),
  default: define('default', '`value` unless it is none, else `fallback` (optional inputs)', [{ name: 'value' }, { name: 'fallback' }], (_ops, a) =>
    a.value!.value.kind === 'none' ? a.fallback!.value : a.value!.value,
  ),
  expand: define('expand', 'broadcast `x` to `shape` (numpy rules; a list of sizes)', [{ name: 'x' }, { name: 'shape' }], (ops, a, at) => {
    const v = a.shape!.value;
    if (v.kind !== 'list') throw new CompileError(error('type', `\`shape\` must be a list like [B, 1, dim], got ${describeValue(v)}`, a.shape!.span));
    const shape = v.items.map((it) => {
      if (it.kind === 'int') return it.v;
      throw new CompileError(error('type', `shape entries must be integers, got ${describeValue(it)}`, a.shape!.span));
    });
    const x = T(ops, a, 'x');
    ops.b.broadcastShape(ops.b.shape(x), shape, at);
    if (ops.b.shape(x).length > shape.length) throw new CompileError(error('shape', `cannot expand ${shapeToString(ops.b.shape(x))} to fewer axes ${shapeToString(shape)}`, at));
    return tensor(ops.b.expand(x, shape, at));
  }),
  // Evaluated lazily by the lowering (only the chosen branch); listed here for arity and docs.
  select: define('select', '`then` when the compile-time bool `cond` holds, else `otherwise` (only the chosen branch is evaluated)', [{ name: 'cond' }, { name: 'then' }, { name: 'otherwise' }], (_ops, a) =>
    bool(a, 'cond') ? a.then!.value : a.otherwise!.value,
  ),
  size: define('size', 'the size of axis `dim` of a tensor (an int, possibly symbolic)', [{ name: 'x' }, { name: 'dim' }], (ops, a) => {
    const x = T(ops, a, 'x');
    const shape = ops.b.shape(x);
    return { kind: 'int', v: shape[axisOf(ops, a, 'dim', shape.length)]! };
  }),
  detach: define('detach', 'the same values with no gradient flowing back (stop-gradient)', [{ name: 'x' }], (ops, a, at) =>
    tensor(ops.b.op('detach', [T(ops, a, 'x')], {}, at)),
  ),
  causal_mask: define(
    'causal_mask',
    'additive mask f32[rows, cols]: 0 where key j may be seen by query i (j ≤ i + cols − rows; earlier extra columns, e.g. prefixes, always visible), −1e9 elsewhere',
    [{ name: 'rows' }, { name: 'cols' }],
    (ops, a, at) => tensor(ops.b.op('causal_mask', [], { rows: ops.intOf(a.rows!.value, a.rows!.span), cols: ops.intOf(a.cols!.value, a.cols!.span) }, at)),
  ),
  one_hot: define('one_hot', 'f32 one-hot rows of i32 labels', [{ name: 'labels' }, { name: 'classes' }], (ops, a, at) =>
    tensor(ops.b.op('one_hot', [T(ops, a, 'labels')], { classes: ops.intOf(a.classes!.value, a.classes!.span) }, at)),
  ),
  cross_entropy: define(
    'cross_entropy',
    'mean cross-entropy of logits[..., C] against i32 labels[...], with optional label smoothing',
    [{ name: 'logits' }, { name: 'labels' }, { name: 'smoothing', default: { kind: 'float', v: 0 } }],
    (ops, a, at) => {
      const b = ops.b;
      const logits = T(ops, a, 'logits');
      const labels = T(ops, a, 'labels');
      const ls = b.shape(logits);
      const ys = b.shape(labels);
      if (b.node(labels).dtype !== 'i32') throw new CompileError(error('type', 'cross_entropy labels must be i32', a.labels!.span));
      if (ls.length !== ys.length + 1 || ys.some((d, i) => ls[i] !== d)) {
        throw new CompileError(error('shape', `cross_entropy needs logits [..., C] and labels [...] with the same leading axes, got ${shapeToString(ls)} and ${shapeToString(ys)}`, at));
      }
      const classes = ls[ls.length - 1]!;
      if (!isConcrete(classes)) throw new CompileError(error('shape', 'the class axis of the logits must be concrete', a.logits!.span));
      const eps = num(a, 'smoothing');
      if (!(eps >= 0 && eps < 1)) throw new CompileError(error('value', `smoothing must be in [0, 1), got ${eps}`, a.smoothing!.span));
      const lp = b.op('log_softmax', [logits], {}, at);
      const last = ls.length - 1;
      const picked = b.sum(b.mul(b.op('one_hot', [labels], { classes }, at), lp, at), [last], false, at);
      let perItem = b.neg(picked, at);
      if (eps > 0) {
        // Label smoothing as PyTorch defines it: (1-ε)·nll + ε·mean over classes of -log p.
        const uniform = b.neg(meanOver(b, lp, [last], false, at), at);
        perItem = b.add(b.mul(perItem, b.scalar(1 - eps, at), at), b.mul(uniform, b.scalar(eps, at), at), at);
      }
      return tensor(meanOver(b, perItem, [...Array(ys.length).keys()], false, at));
    },
  ),
};
