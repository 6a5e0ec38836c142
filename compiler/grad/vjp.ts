/**
 * Reverse-mode rules, one per op: given the gradient `g` of a node's output, build the
 * gradient of each source out of IR ops. The rules emit graph nodes, never numbers, so the
 * backward pass is an ordinary part of the graph that fuses and runs on the GPU.
 *
 * `need[i]` says whether source i requires grad; a rule builds nothing for a source that
 * does not (so a frozen weight never gets its weight-gradient matmul) and returns null there.
 * Spans are stamped on the new nodes by `differentiate`, so rules do not thread them.
 */
import { type Dim, isConcrete, numel } from '../../core/dim.ts';
import type { GraphBuilder, Node, NodeId } from '../ir/graph.ts';
import type { OpKind } from '../ops/kinds.ts';

export type VjpRule<K extends OpKind> = (b: GraphBuilder, node: Node<K>, g: NodeId, need: readonly boolean[]) => readonly (NodeId | null)[];

/** Builds a source's gradient only when it is needed. */
function when(needed: boolean | undefined, build: () => NodeId): NodeId | null {
  return needed ? build() : null;
}

/** Rules for ops with one source, from (x, y = this node, g) to dx. */
function unaryRule<K extends OpKind>(dx: (b: GraphBuilder, x: NodeId, y: NodeId, g: NodeId) => NodeId): VjpRule<K> {
  return (b, n, g) => [dx(b, n.src[0]!, n.id, g)];
}

/** The shape a reduction's output has with keepdims, so it can be expanded back. */
function keptShape(b: GraphBuilder, n: Node<'sum' | 'max'>) {
  return b.shape(n.src[0]!).map((d, i) => (n.attrs.axes.includes(i) ? 1 : d));
}

function lastAxis(b: GraphBuilder, x: NodeId): number[] {
  return [b.shape(x).length - 1];
}

function concreteDim(d: Dim, what: string): number {
  if (!isConcrete(d)) throw new Error(`${what}: needs a concrete size, got ${d}`);
  return d;
}

export const vjpRules: { readonly [K in OpKind]: VjpRule<K> | null } = {
  // Leaves: a param's gradient is the result, not something to propagate further.
  param: null,
  input: null,
  const: null,

  neg: unaryRule((b, _x, _y, g) => b.neg(g)),
  exp: unaryRule((b, _x, y, g) => b.mul(g, y)),
  log: unaryRule((b, x, _y, g) => b.div(g, x)),
  tanh: unaryRule((b, _x, y, g) => b.mul(g, b.sub(b.scalar(1), b.mul(y, y)))),
  sqrt: unaryRule((b, _x, y, g) => b.div(b.mul(g, b.scalar(0.5)), y)),
  recip: unaryRule((b, _x, y, g) => b.neg(b.mul(g, b.mul(y, y)))),
  sigmoid: unaryRule((b, _x, y, g) => b.mul(b.mul(g, y), b.sub(b.scalar(1), y))),
  relu: unaryRule((b, x, _y, g) => b.mul(g, b.op('step', [x], {}))),
  gelu: unaryRule((b, x, _y, g) => b.mul(g, b.op('gelu_grad', [x], {}))),
  // Helpers of other VJPs; piecewise constant or only ever used in a backward pass.
  gelu_grad: null,
  step: null,

  add: (b, n, g, need) => {
    const [x, y] = n.src as [NodeId, NodeId];
    return [when(need[0], () => b.unbroadcast(g, b.shape(x))), when(need[1], () => b.unbroadcast(g, b.shape(y)))];
  },
  sub: (b, n, g, need) => {
    const [x, y] = n.src as [NodeId, NodeId];
    return [when(need[0], () => b.unbroadcast(g, b.shape(x))), when(need[1], () => b.unbroadcast(b.neg(g), b.shape(y)))];
  },
  mul: (b, n, g, need) => {
    const [x, y] = n.src as [NodeId, NodeId];
    return [when(need[0], () => b.unbroadcast(b.mul(g, y), b.shape(x))), when(need[1], () => b.unbroadcast(b.mul(g, x), b.shape(y)))];
  },
  // z = x / y: dx = g / y, dy = −g·x/y² = −g·z/y.
  div: (b, n, g, need) => {
    const [x, y] = n.src as [NodeId, NodeId];
    return [
      when(need[0], () => b.unbroadcast(b.div(g, y), b.shape(x))),
      when(need[1], () => b.unbroadcast(b.neg(b.div(b.mul(g, n.id), y)), b.shape(y))),
    ];
  },
  eq: null,

  sum: (b, n, g) => {
    const x = n.src[0]!;
    return [b.expand(b.reshape(g, keptShape(b, n)), b.shape(x))];
  },
  // The gradient goes to the elements equal to the max, split evenly among ties (as in jax),
  // so that e.g. a max over an all-zero relu output still passes on exactly g.
  max: (b, n, g) => {
    const x = n.src[0]!;
    const xs = b.shape(x);
    const kept = keptShape(b, n);
    const hit = b.op('eq', [x, b.expand(b.reshape(n.id, kept), xs)], {});
    const count = b.sum(hit, n.attrs.axes, true);
    return [b.mul(b.expand(b.reshape(g, kept), xs), b.div(hit, b.expand(count, xs)))];
  },

  // C = op(A)·op(B) with op = transpose-if-flagged. Each case below is dA = dC·op(B)ᵀ and
  // dB = op(A)ᵀ·dC, rewritten so the result comes out in A's (B's) own layout without an
  // explicit transpose; batch axes that were broadcast are then summed away.
  matmul: (b, n, g, need) => {
    const [A, B] = n.src as [NodeId, NodeId];
    const { transA, transB } = n.attrs;
    const mm = (x: NodeId, y: NodeId, ta: boolean, tb: boolean) => b.op('matmul', [x, y], { transA: ta, transB: tb });
    const dA = () => {
      if (!transA) return transB ? mm(g, B, false, false) : mm(g, B, false, true); // g·B or g·Bᵀ
      return transB ? mm(B, g, true, true) : mm(B, g, false, true); // Bᵀ·gᵀ or B·gᵀ
    };
    const dB = () => {
      const as = b.shape(A);
      if (b.shape(B).length === 2 && as.length > 2 && !transA) {
        // A shared 2-D weight under batched rows (a linear layer): fold the batch into the rows
        // so dB is one matmul, instead of a per-batch [..., K, N] product summed afterwards.
        const rows = numel(as.slice(0, -1));
        const A2 = b.reshape(A, [rows, as[as.length - 1]!]);
        const g2 = b.reshape(g, [rows, b.shape(g)[b.shape(g).length - 1]!]);
        return transB ? mm(g2, A2, true, false) : mm(A2, g2, true, false);
      }
      if (!transB) return transA ? mm(A, g, false, false) : mm(A, g, true, false); // A·g or Aᵀ·g
      return transA ? mm(g, A, true, true) : mm(g, A, true, false); // gᵀ·Aᵀ or gᵀ·A
    };
    return [when(need[0], () => b.unbroadcast(dA(), b.shape(A))), when(need[1], () => b.unbroadcast(dB(), b.shape(B)))];
  },

  reshape: (b, n, g) => [b.reshape(g, b.shape(n.src[0]!))],
  permute: (b, n, g) => {
    const inv: number[] = [];
    n.attrs.perm.forEach((p, i) => (inv[p] = i));
    return [b.permute(g, inv)];
  },
  expand: (b, n, g) => [b.unbroadcast(g, b.shape(n.src[0]!))],
  // The sliced-away parts got no gradient: pad zeros back where they were.
  slice: (b, n, g) => {
    const xs = b.shape(n.src[0]!);
    const before = n.attrs.ranges.map((r) => r.start);
    const after = n.attrs.ranges.map((r, i) => (r.stop === null ? 0 : concreteDim(xs[i]!, 'slice gradient') - r.stop));
    return [b.op('pad', [g], { before, after })];
  },
  pad: (b, n, g) => {
    const xs = b.shape(n.src[0]!);
    const ranges = xs.map((d, i) => {
      const start = n.attrs.before[i]!;
      // An unpadded axis keeps a full range, which also works for symbolic sizes.
      return start === 0 && n.attrs.after[i] === 0 ? { start: 0, stop: null } : { start, stop: start + concreteDim(d, 'pad gradient') };
    });
    return [b.op('slice', [g], { ranges })];
  },
  concat: (b, n, g, need) => {
    const ax = n.attrs.axis;
    let at = 0;
    return n.src.map((s, i) => {
      const xs = b.shape(s);
      const start = at;
      at += concreteDim(xs[ax]!, 'concat gradient');
      if (n.src.length === 1) return when(need[i], () => g);
      const ranges = xs.map((_, k) => (k === ax ? { start, stop: at } : { start: 0, stop: null }));
      return when(need[i], () => b.op('slice', [g], { ranges }));
    });
  },

  gather: (b, n, g, need) => {
    const [table, ids] = n.src as [NodeId, NodeId];
    const rows = concreteDim(b.shape(table)[0]!, 'gather gradient');
    return [when(need[0], () => b.op('scatter_add', [ids, g], { rows })), null];
  },
  scatter_add: null,
  one_hot: null,
  // Nothing flows into a detach: differentiate treats it as not requiring grad.
  detach: null,
  causal_mask: null,

  // y = softmax(x): dx = y·(g − Σ g·y).
  softmax: (b, n, g) => {
    const y = n.id;
    return [b.mul(y, b.sub(g, b.sum(b.mul(g, y), lastAxis(b, y), true)))];
  },
  // y = x − logΣexp(x): dx = g − softmax(x)·Σ g.
  log_softmax: (b, n, g) => {
    const x = n.src[0]!;
    return [b.sub(g, b.mul(b.op('softmax', [x], {}), b.sum(g, lastAxis(b, x), true)))];
  },
  normalize: (b, n, g) => [b.op('normalize_grad', [n.src[0]!, g], { eps: n.attrs.eps })],
  normalize_grad: null,
  dropout_mask: null,
};
