/**
 * The functions a forward body can call: thin, checked front ends over IR ops.
 * Composite functions (layer_norm, cross_entropy, mean) expand into primitives here,
 * so autodiff and codegen only ever see the primitive vocabulary.
 */
import { CompileError, error, suggestion } from '../../core/diagnostic.ts';
import type { Span } from '../../core/span.ts';
import { type Dim, dimDiv, isConcrete, numel, shapeToString } from '../../core/dim.ts';
import type { GraphBuilder, NodeId } from '../ir/graph.ts';
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
          if (a.name)
            throw new CompileError(
              error(
                'name',
                `\`${name}\` has no argument \`${a.name}\``,
                a.span,
                suggestion(
                  a.name,
                  params.map((x) => x.name),
                  `\`${name}\` takes ${params.map((x) => x.name).join(', ')}`,
                ),
              ),
            );
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

const REDUCTIONS = ['mean', 'sum', 'none'] as const;

/** A string argument that must be one of `options`, with a did-you-mean. */
function choice<O extends string>(a: Args, k: string, options: readonly O[]): O {
  const v = a[k]!.value;
  const list = options.map((o) => `"${o}"`).join(', ');
  if (v.kind !== 'string')
    throw new CompileError(error('type', `\`${k}\` must be a string, one of ${list}; got ${describeValue(v)}`, a[k]!.span));
  if ((options as readonly string[]).includes(v.v)) return v.v as O;
  throw new CompileError(error('value', `unknown ${k} "${v.v}"`, a[k]!.span, suggestion(v.v, options, `\`${k}\` is one of ${list}`)));
}

/** A concrete int argument (a token or label id). */
function intArg(a: Args, k: string, what: string): number {
  const v = a[k]!.value;
  if (v.kind === 'int' && isConcrete(v.v)) return v.v;
  throw new CompileError(error('type', `\`${k}\` must be ${what}, got ${describeValue(v)}`, a[k]!.span));
}

/** A non-negative int argument (a token id such as [PAD]'s). */
function tokenId(a: Args, k: string, what: string): number {
  const n = intArg(a, k, what);
  if (n < 0) throw new CompileError(error('value', `\`${k}\` must be ${what} ≥ 0, got ${n}`, a[k]!.span));
  return n;
}

/** Column `k` of a one-hot [...shape, C] as f32 [...shape]: 1 where the label is k. */
function equalsColumn(b: GraphBuilder, oneHot: NodeId, k: number, shape: readonly Dim[], at: Span): NodeId {
  const C = b.shape(oneHot)[shape.length] as number;
  const col =
    C === 1 ? oneHot : b.op('slice', [oneHot], { ranges: [...shape.map(() => ({ start: 0, stop: null })), { start: k, stop: k + 1 }] }, at);
  return b.reshape(col, shape, at);
}

/**
 * f32 [...ids] that is 1 where the i32 `ids` equal `k` (≥ 0), else 0: column k of
 * one_hot(ids, k + 1). The IR compares only f32 tensors, and one_hot is its one i32 → f32 op.
 */
function equalsId(b: GraphBuilder, ids: NodeId, k: number, at: Span): NodeId {
  return equalsColumn(b, b.op('one_hot', [ids], { classes: k + 1 }, at), k, b.shape(ids), at);
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
  log_softmax: define(
    'log_softmax',
    'log of softmax along `dim`',
    [{ name: 'x' }, { name: 'dim', default: { kind: 'int', v: -1 } }],
    (ops, a, at) => {
      const x = T(ops, a, 'x');
      const ax = axisOf(ops, a, 'dim', ops.b.shape(x).length);
      return tensor(alongAxis(ops.b, x, ax, (y) => ops.b.op('log_softmax', [y], {}, at), at));
    },
  ),
  layer_norm: define(
    'layer_norm',
    'normalise over the last axis, then scale by `weight` and shift by `bias` (either may be none)',
    [
      { name: 'x' },
      { name: 'weight', default: NONE },
      { name: 'bias', default: NONE },
      { name: 'eps', default: { kind: 'float', v: 1e-5 } },
    ],
    (ops, a, at) => {
      let y = ops.b.op('normalize', [T(ops, a, 'x')], { eps: num(a, 'eps') }, at);
      if (a.weight!.value.kind !== 'none') y = ops.b.mul(y, T(ops, a, 'weight'), at);
      if (a.bias!.value.kind !== 'none') y = ops.b.add(y, T(ops, a, 'bias'), at);
      return tensor(y);
    },
  ),
  sum: define(
    'sum',
    'sum over `dim` (none = all axes)',
    [{ name: 'x' }, { name: 'dim', default: NONE }, { name: 'keepdim', default: { kind: 'bool', v: false } }],
    (ops, a, at) => {
      const x = T(ops, a, 'x');
      return tensor(ops.b.sum(x, axesOf(ops, a, 'dim', ops.b.shape(x).length), bool(a, 'keepdim'), at));
    },
  ),
  mean: define(
    'mean',
    'mean over `dim` (none = all axes)',
    [{ name: 'x' }, { name: 'dim', default: NONE }, { name: 'keepdim', default: { kind: 'bool', v: false } }],
    (ops, a, at) => {
      const x = T(ops, a, 'x');
      return tensor(meanOver(ops.b, x, axesOf(ops, a, 'dim', ops.b.shape(x).length), bool(a, 'keepdim'), at));
    },
  ),
  max: define(
    'max',
    'maximum over `dim` (none = all axes)',
    [{ name: 'x' }, { name: 'dim', default: NONE }, { name: 'keepdim', default: { kind: 'bool', v: false } }],
    (ops, a, at) => {
      const x = T(ops, a, 'x');
      return tensor(ops.b.op('max', [x], { axes: axesOf(ops, a, 'dim', ops.b.shape(x).length), keepdims: bool(a, 'keepdim') }, at));
    },
  ),
  reshape: define(
    'reshape',
    'new shape with the same number of elements; one entry may be -1',
    [{ name: 'x' }, { name: 'shape' }],
    (ops, a, at) => {
      const x = T(ops, a, 'x');
      const v = a.shape!.value;
      if (v.kind !== 'list')
        throw new CompileError(error('type', `\`shape\` must be a list like [B, T, 4], got ${describeValue(v)}`, a.shape!.span));
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
        if (rest === undefined)
          throw new CompileError(error('shape', `cannot reshape ${shapeToString(ops.b.shape(x))} to [${dims.join(', ')}]`, at));
        shape = dims.map((d) => (d === -1 ? rest : d));
      }
      return tensor(ops.b.reshape(x, shape, at));
    },
  ),
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
  concat: define(
    'concat',
    'join a list of tensors along `dim`',
    [{ name: 'xs' }, { name: 'dim', default: { kind: 'int', v: 0 } }],
    (ops, a, at) => {
      const v = a.xs!.value;
      if (v.kind !== 'list' || v.items.length === 0)
        throw new CompileError(error('type', '`xs` must be a non-empty list of tensors', a.xs!.span));
      const ids = v.items.map((it) => ops.tensorOf(it, a.xs!.span));
      const ax = axisOf(ops, a, 'dim', ops.b.shape(ids[0]!).length);
      return tensor(ids.length === 1 ? ids[0]! : ops.b.op('concat', ids, { axis: ax }, at));
    },
  ),
  dropout: define(
    'dropout',
    'inverted dropout with probability `p` (training graphs only)',
    [{ name: 'x' }, { name: 'p' }],
    (ops, a, at) => {
      const p = num(a, 'p');
      if (!(p >= 0 && p < 1)) throw new CompileError(error('value', `dropout probability must be in [0, 1), got ${p}`, a.p!.span));
      return tensor(ops.dropout(T(ops, a, 'x'), p, at));
    },
  ),
  default: define(
    'default',
    '`value` unless it is none, else `fallback` (optional inputs)',
    [{ name: 'value' }, { name: 'fallback' }],
    (_ops, a) => (a.value!.value.kind === 'none' ? a.fallback!.value : a.value!.value),
  ),
  expand: define('expand', 'broadcast `x` to `shape` (numpy rules; a list of sizes)', [{ name: 'x' }, { name: 'shape' }], (ops, a, at) => {
    const v = a.shape!.value;
    if (v.kind !== 'list')
      throw new CompileError(error('type', `\`shape\` must be a list like [B, 1, dim], got ${describeValue(v)}`, a.shape!.span));
    const shape = v.items.map((it) => {
      if (it.kind === 'int') return it.v;
      throw new CompileError(error('type', `shape entries must be integers, got ${describeValue(it)}`, a.shape!.span));
    });
    const x = T(ops, a, 'x');
    ops.b.broadcastShape(ops.b.shape(x), shape, at);
    if (ops.b.shape(x).length > shape.length)
      throw new CompileError(error('shape', `cannot expand ${shapeToString(ops.b.shape(x))} to fewer axes ${shapeToString(shape)}`, at));
    return tensor(ops.b.expand(x, shape, at));
  }),
  // Evaluated lazily by the lowering (only the chosen branch); listed here for arity and docs.
  select: define(
    'select',
    '`then` when the compile-time bool `cond` holds, else `otherwise` (only the chosen branch is evaluated)',
    [{ name: 'cond' }, { name: 'then' }, { name: 'otherwise' }],
    (_ops, a) => (bool(a, 'cond') ? a.then!.value : a.otherwise!.value),
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
    (ops, a, at) =>
      tensor(
        ops.b.op('causal_mask', [], { rows: ops.intOf(a.rows!.value, a.rows!.span), cols: ops.intOf(a.cols!.value, a.cols!.span) }, at),
      ),
  ),
  one_hot: define('one_hot', 'f32 one-hot rows of i32 labels', [{ name: 'labels' }, { name: 'classes' }], (ops, a, at) =>
    tensor(ops.b.op('one_hot', [T(ops, a, 'labels')], { classes: ops.intOf(a.classes!.value, a.classes!.span) }, at)),
  ),
  attention_mask: define(
    'attention_mask',
    "f32 mask of i32 token ids, Hugging Face's `attention_mask`: 1 at tokens, 0 where the id is `pad` (default 0, BERT's [PAD])",
    [{ name: 'ids' }, { name: 'pad', default: { kind: 'int', v: 0 } }],
    (ops, a, at) => {
      const b = ops.b;
      const ids = T(ops, a, 'ids');
      if (b.node(ids).dtype !== 'i32')
        throw new CompileError(error('type', `\`ids\` must be i32 token ids, got an ${b.node(ids).dtype} tensor`, a.ids!.span));
      const pad = tokenId(a, 'pad', 'an int token id');
      return tensor(b.sub(b.scalar(1, at), equalsId(b, ids, pad, at), at));
    },
  ),
  attention_bias: define(
    'attention_bias',
    'additive attention mask f32[B, 1, 1, cols] from a key mask f32[B, S] (1 = attend, 0 = masked): 0 where the key is kept, −1e9 where masked; the cols − S leading columns (prefixes, prompts) always visible; none for a none mask',
    [{ name: 'mask' }, { name: 'cols', default: NONE }],
    (ops, a, at) => {
      if (a.mask!.value.kind === 'none') return NONE;
      const b = ops.b;
      const mask = T(ops, a, 'mask');
      const node = b.node(mask);
      if (node.dtype !== 'f32') {
        throw new CompileError(
          error('type', `\`mask\` must be an f32 key mask (1 = attend, 0 = masked), got an ${node.dtype} tensor`, a.mask!.span, {
            help: 'make one from token ids with `attention_mask(ids, pad)`',
          }),
        );
      }
      if (node.shape.length !== 2)
        throw new CompileError(
          error('shape', `\`mask\` must be [B, S] (one row of keys per batch item), got ${shapeToString(node.shape)}`, a.mask!.span),
        );
      const [batch, keys] = node.shape as [Dim, Dim];
      // `cols` may be symbolic when it is the mask's own width (a sequence length bound at run time).
      const cv = a.cols!.value;
      if (cv.kind !== 'none' && cv.kind !== 'int')
        throw new CompileError(
          error('type', `\`cols\` must be an int (the number of keys, e.g. \`size(k, 2)\`), got ${describeValue(cv)}`, a.cols!.span),
        );
      const cols: Dim = cv.kind === 'int' ? cv.v : keys;
      if (cols !== keys) {
        if (!isConcrete(cols) || !isConcrete(keys))
          throw new CompileError(
            error('shape', `cannot widen a mask over ${keys} keys to ${cols} columns: the sizes must be concrete`, a.cols!.span),
          );
        if (cols < keys)
          throw new CompileError(
            error('shape', `\`cols\` (${cols}) must be at least the mask's width (${keys})`, a.cols!.span, {
              help: 'pass the number of keys, e.g. `size(k, 2)`',
            }),
          );
      }
      // (m − 1) · 1e9: −1e9 as causal_mask (exp underflows to exactly 0 in the softmax, in f32
      // and f64), and +0 on kept keys.
      let bias = b.mul(b.sub(mask, b.scalar(1, at), at), b.scalar(1e9, at), at);
      if (cols !== keys) bias = b.op('pad', [bias], { before: [0, (cols as number) - (keys as number)], after: [0, 0] }, at);
      return tensor(b.reshape(bias, [batch, 1, 1, cols], at));
    },
  ),
  cross_entropy: define(
    'cross_entropy',
    'cross-entropy of logits[..., C] against i32 labels[...], with optional label smoothing; labels equal to `ignore` contribute nothing; `reduction` "mean" (over the counted labels), "sum" or "none"',
    [
      { name: 'logits' },
      { name: 'labels' },
      { name: 'smoothing', default: { kind: 'float', v: 0 } },
      { name: 'ignore', default: NONE },
      { name: 'reduction', default: { kind: 'string', v: 'mean' } },
    ],
    (ops, a, at) => {
      const b = ops.b;
      const logits = T(ops, a, 'logits');
      const labels = T(ops, a, 'labels');
      const ls = b.shape(logits);
      const ys = b.shape(labels);
      if (b.node(logits).dtype !== 'f32') throw new CompileError(error('type', 'cross_entropy logits must be f32', a.logits!.span));
      if (b.node(labels).dtype !== 'i32') throw new CompileError(error('type', 'cross_entropy labels must be i32', a.labels!.span));
      if (ls.length !== ys.length + 1 || ys.some((d, i) => ls[i] !== d)) {
        throw new CompileError(
          error(
            'shape',
            `cross_entropy needs logits [..., C] and labels [...] with the same leading axes, got ${shapeToString(ls)} and ${shapeToString(ys)}`,
            at,
          ),
        );
      }
      const classes = ls[ls.length - 1]!;
      if (!isConcrete(classes)) throw new CompileError(error('shape', 'the class axis of the logits must be concrete', a.logits!.span));
      const eps = num(a, 'smoothing');
      if (!(eps >= 0 && eps < 1)) throw new CompileError(error('value', `smoothing must be in [0, 1), got ${eps}`, a.smoothing!.span));
      const ignore = a.ignore!.value.kind === 'none' ? undefined : intArg(a, 'ignore', 'an int label id or none');
      const reduction = choice(a, 'reduction', REDUCTIONS);
      const lp = b.op('log_softmax', [logits], {}, at);
      const last = ls.length - 1;
      const oneHot = b.op('one_hot', [labels], { classes }, at);
      const picked = b.sum(b.mul(oneHot, lp, at), [last], false, at);
      let perItem = b.neg(picked, at);
      if (eps > 0) {
        // Label smoothing as PyTorch defines it: (1-ε)·nll + ε·mean over classes of -log p.
        const uniform = b.neg(meanOver(b, lp, [last], false, at), at);
        perItem = b.add(b.mul(perItem, b.scalar(1 - eps, at), at), b.mul(uniform, b.scalar(eps, at), at), at);
      }
      const all = [...Array(ys.length).keys()];
      if (ignore === undefined) {
        if (reduction === 'none') return tensor(perItem);
        return tensor(reduction === 'sum' ? b.sum(perItem, all, false, at) : meanOver(b, perItem, all, false, at));
      }
      // 1 where the label counts. An `ignore` inside [0, C) is a column of the one-hot; outside
      // it (PyTorch's −100), every label outside [0, C), whose one-hot row is all zero, is ignored.
      const kept =
        ignore >= 0 && ignore < classes
          ? b.sub(b.scalar(1, at), equalsColumn(b, oneHot, ignore, ys, at), at)
          : b.sum(oneHot, [last], false, at);
      const masked = b.mul(perItem, kept, at);
      if (reduction === 'none') return tensor(masked);
      const total = b.sum(masked, all, false, at);
      if (reduction === 'sum') return tensor(total);
      // PyTorch's ignore_index mean: over the counted labels only; 0 (not 0/0) when none counts.
      const count = b.sum(kept, all, false, at);
      const zero = b.op('eq', [count, b.scalar(0, at)], {}, at);
      return tensor(b.div(total, b.add(count, zero, at), at));
    },
  ),
};
