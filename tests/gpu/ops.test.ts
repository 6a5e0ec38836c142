/**
 * WGSL conformance: every op kind with a kernel, on Dawn, against the float64 reference.
 * The case table is exhaustive over `OpKind` (a new op without cases fails to compile).
 * All cases are nodes of one graph, planned and run once, so pipelines compile once and
 * the planner's buffer reuse is exercised too; every output and temporary buffer starts
 * as NaN. Sizes are tiny because lavapipe is a CPU, but they are chosen to hit the edges:
 * matmuls not a multiple of the tile, broadcast batch axes, both reduction strategies,
 * long rows, a concat split across kernels, and the 2-D dispatch grid. Both kernel targets
 * run: `gpu` (shared-memory tiles, workgroup reductions) and `cpu` (register tiles, serial rows).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Graph, NodeId } from '../../compiler/ir/graph.ts';
import type { OpKind } from '../../compiler/ops/kinds.ts';
import { type GpuContext, describeAdapter, isSoftwareAdapter, openDevice } from '../../runtime/device.ts';
import { planGraph } from '../../compiler/plan/buffers.ts';
import type { KernelTarget } from '../../compiler/wgsl/render.ts';
import { PlanExecutor } from '../../runtime/executor.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { type Feeds, TestGraph, maxRelError, runOnGpu } from './harness.ts';

type Case = { name: string; build: (t: TestGraph) => NodeId };
const c = (name: string, build: (t: TestGraph) => NodeId): Case => ({ name, build });

const unary = (op: OpKind, opts: { positive?: boolean; scale?: number } = {}): Case[] => [
  c(`${op} [3, 5]`, (t) => t.b.op(op, [t.input([3, 5], opts)], {} as never)),
];

/** Values over [-8, 8.2] in steps of 7/16 (exact in f32, so the reference sees the same x), plus far tails. */
const wide = (t: TestGraph): NodeId =>
  t.input([40], { data: Float64Array.from({ length: 40 }, (_, i) => (i < 38 ? -8 + i * 0.4375 : i === 38 ? -30 : 30)) });

const cases: { readonly [K in OpKind]: Case[] | 'leaf' } = {
  param: 'leaf',
  input: 'leaf',
  const: [
    c('const root (fill kernel)', (t) => t.b.scalar(0.375)),
    c('expand(const) root', (t) => t.b.op('expand', [t.b.reshape(t.b.scalar(-2.5), [1, 1])], { shape: [3, 4] })),
    c('const folded into mul', (t) => t.b.mul(t.input([2, 3]), t.b.scalar(2.5))),
  ],
  neg: unary('neg'),
  exp: unary('exp'),
  log: unary('log', { positive: true }),
  tanh: [...unary('tanh'), c('tanh tails', (t) => t.b.op('tanh', [wide(t)], {}))],
  sqrt: unary('sqrt', { positive: true }),
  recip: unary('recip'),
  sigmoid: [...unary('sigmoid'), c('sigmoid tails', (t) => t.b.op('sigmoid', [wide(t)], {}))],
  relu: unary('relu'),
  gelu: [...unary('gelu'), c('gelu over [-8, 8] and tails', (t) => t.b.op('gelu', [wide(t)], {}))],
  gelu_grad: [...unary('gelu_grad'), c('gelu_grad over [-8, 8]', (t) => t.b.op('gelu_grad', [wide(t)], {}))],
  step: unary('step'),
  add: [
    c('add [2,3,4] + [3,1]', (t) => t.b.add(t.input([2, 3, 4]), t.input([3, 1]))),
    c('add scalar param', (t) => t.b.add(t.input([5]), t.param([]))),
    c('add of two literals, as a root (folded, then filled)', (t) => t.b.add(t.b.scalar(1.25), t.b.scalar(2))),
  ],
  sub: [c('sub [4] - [2,3,4]', (t) => t.b.sub(t.input([4]), t.input([2, 3, 4])))],
  mul: [c('mul [2,1,4] * [3,1]', (t) => t.b.mul(t.input([2, 1, 4]), t.input([3, 1])))],
  div: [c('div [2,3,4] / [1,3,1]', (t) => t.b.div(t.input([2, 3, 4]), t.input([1, 3, 1])))],
  eq: [
    c('eq x == rowmax(x)', (t) => {
      const x = t.input([3, 5]);
      return t.b.op('eq', [x, t.b.op('max', [x], { axes: [1], keepdims: true })], {});
    }),
  ],
  sum: [
    c('sum [3,4,5] axis 1', (t) => t.b.op('sum', [t.input([3, 4, 5])], { axes: [1], keepdims: false })),
    c('sum [3,4,5] axes 0,2 keepdims', (t) => t.b.op('sum', [t.input([3, 4, 5])], { axes: [0, 2], keepdims: true })),
    c('sum [2,300] axis 1 (workgroup per output)', (t) => t.b.op('sum', [t.input([2, 300])], { axes: [1], keepdims: false })),
    c('sum [300,3] axis 0 (workgroup, strided)', (t) => t.b.op('sum', [t.input([300, 3])], { axes: [0], keepdims: false })),
    c('sum everything', (t) => t.b.op('sum', [t.input([7, 6])], { axes: [0, 1], keepdims: false })),
    c('epilogue: a mean (sum, then a literal scale)', (t) =>
      t.b.mul(t.b.op('sum', [t.input([3, 4, 5])], { axes: [1], keepdims: false }), t.b.scalar(0.25)),
    ),
    c('epilogue: a scaled sum over a workgroup per output', (t) =>
      t.b.mul(t.b.op('sum', [t.input([2, 300])], { axes: [1], keepdims: false }), t.input([2])),
    ),
  ],
  max: [
    c('max [3,4,5] axis 2', (t) => t.b.op('max', [t.input([3, 4, 5])], { axes: [2], keepdims: false })),
    c('max [2,3] axis 0 keepdims', (t) => t.b.op('max', [t.input([2, 3])], { axes: [0], keepdims: true })),
    c('max [2,257] axis 1 (workgroup)', (t) => t.b.op('max', [t.input([2, 257])], { axes: [1], keepdims: false })),
    c('epilogue: exp of a max', (t) => t.b.op('exp', [t.b.op('max', [t.input([3, 4, 5])], { axes: [2], keepdims: false })], {})),
  ],
  matmul: [
    // Fusion: the layer-norm affine (mul, add with broadcasting) is computed inside the matmul's loads.
    c('matmul reading a fused broadcast prologue', (t) =>
      t.b.op(
        'matmul',
        [t.b.add(t.b.mul(t.b.op('normalize', [t.input([2, 70, 33])], { eps: 1e-5 }), t.input([33])), t.input([33])), t.input([33, 66])],
        { transA: false, transB: false },
      ),
    ),
    c('matmul 37×19 @ 19×23', (t) => t.b.op('matmul', [t.input([37, 19]), t.input([19, 23])], { transA: false, transB: false })),
    c('matmul transA', (t) => t.b.op('matmul', [t.input([19, 37]), t.input([19, 23])], { transA: true, transB: false })),
    c('matmul transB', (t) => t.b.op('matmul', [t.input([37, 19]), t.input([23, 19])], { transA: false, transB: true })),
    c('matmul transA transB', (t) => t.b.op('matmul', [t.input([19, 37]), t.input([23, 19])], { transA: true, transB: true })),
    c('matmul batched [2,3,5,7] @ [3,7,4]', (t) =>
      t.b.op('matmul', [t.input([2, 3, 5, 7]), t.input([3, 7, 4])], { transA: false, transB: false }),
    ),
    c('matmul broadcast [2,1,5,7] @ [3,4,7]ᵀ', (t) =>
      t.b.op('matmul', [t.input([2, 1, 5, 7]), t.input([3, 4, 7])], { transA: false, transB: true }),
    ),
    c('matmul 64-tiles 70×33 @ 33×66', (t) => t.b.op('matmul', [t.input([70, 33]), t.input([33, 66])], { transA: false, transB: false })),
    c('matmul 64-tiles transA transB', (t) => t.b.op('matmul', [t.input([33, 70]), t.input([66, 33])], { transA: true, transB: true })),
    // Batch folded into rows (A batched, B shared), and the cases that must not fold.
    c('matmul folded [3,5,7] @ [4,7]ᵀ', (t) => t.b.op('matmul', [t.input([3, 5, 7]), t.input([4, 7])], { transA: false, transB: true })),
    c('matmul folded [2,3,5,7] @ [1,7,4]', (t) =>
      t.b.op('matmul', [t.input([2, 3, 5, 7]), t.input([1, 7, 4])], { transA: false, transB: false }),
    ),
    c('matmul unfolded: A broadcast [1,5,7] @ [3,7,4]', (t) =>
      t.b.op('matmul', [t.input([1, 5, 7]), t.input([3, 7, 4])], { transA: false, transB: false }),
    ),
    c('matmul unfolded: transA [3,7,5]ᵀ @ [7,4]', (t) =>
      t.b.op('matmul', [t.input([3, 7, 5]), t.input([7, 4])], { transA: true, transB: false }),
    ),
    // Tiles fitted to a side under 64 (fuse/tiling.ts : SMALL_SIDE, cpu target): rows, folded rows, columns, batched.
    c('matmul fitted rows 9×1200 @ [200,1200]ᵀ + bias', (t) =>
      t.b.add(t.b.op('matmul', [t.input([9, 1200]), t.input([200, 1200])], { transA: false, transB: true }), t.input([200])),
    ),
    c('matmul fitted folded rows [5,7,300] @ [300,210]', (t) =>
      t.b.op('matmul', [t.input([5, 7, 300]), t.input([300, 210])], { transA: false, transB: false }),
    ),
    c('matmul fitted columns transA [700,530]ᵀ @ [700,6]', (t) =>
      t.b.op('matmul', [t.input([700, 530]), t.input([700, 6])], { transA: true, transB: false }),
    ),
    c('matmul fitted columns batched [2,300,1000] @ [2,7,1000]ᵀ', (t) =>
      t.b.op('matmul', [t.input([2, 300, 1000]), t.input([2, 7, 1000])], { transA: false, transB: true }),
    ),
    c('epilogue: Linear bias add [2,37,19] @ [23,19]ᵀ + [23]', (t) =>
      t.b.add(t.b.op('matmul', [t.input([2, 37, 19]), t.input([23, 19])], { transA: false, transB: true }), t.input([23])),
    ),
    c('epilogue: residual − matmul, transA, batched', (t) =>
      t.b.sub(t.input([3, 5, 4]), t.b.op('matmul', [t.input([3, 7, 5]), t.input([3, 7, 4])], { transA: true, transB: false })),
    ),
    c('epilogue: 64-tile matmul times a fused gelu of a buffer', (t) =>
      t.b.mul(
        t.b.op('matmul', [t.input([70, 33]), t.input([33, 66])], { transA: false, transB: false }),
        t.b.op('gelu', [t.input([70, 66])], {}),
      ),
    ),
    c('epilogue: a literal scale of a fused-prologue matmul', (t) =>
      t.b.mul(
        t.b.op('matmul', [t.b.op('exp', [t.input([4, 9], { scale: 0.5 })], {}), t.input([9, 6])], { transA: false, transB: false }),
        t.b.scalar(0.25),
      ),
    ),
    // Recompute: a cheap producer read by several kernels is inlined into each (one level deep).
    c('recompute: a scaled operand shared by two matmuls (LoRA factor gradients)', (t) => {
      const scaled = t.b.mul(t.input([2, 9, 12]), t.b.scalar(0.37));
      return t.b.add(
        t.b.op('matmul', [scaled, t.input([7, 12])], { transA: false, transB: true }),
        t.b.op('matmul', [scaled, t.input([12, 7])], { transA: false, transB: false }),
      );
    }),
    c('recompute: a residual sum read by a matmul and a softmax', (t) => {
      const residual = t.b.add(t.input([4, 10, 16]), t.b.op('exp', [t.input([4, 10, 16], { scale: 0.3 })], {}));
      return t.b.add(t.b.op('matmul', [residual, t.input([16, 16])], { transA: false, transB: false }), t.b.op('softmax', [residual], {}));
    }),
    c('recompute through a shared reshape (a head merge read by a matmul and a residual)', (t) => {
      const heads = t.b.op('permute', [t.b.op('exp', [t.input([2, 3, 5, 4], { scale: 0.5 })], {})], { perm: [0, 2, 1, 3] });
      const merged = t.b.reshape(heads, [2, 5, 12]);
      return t.b.add(t.b.op('matmul', [merged, t.input([12, 12])], { transA: false, transB: false }), t.b.mul(merged, t.b.scalar(0.5)));
    }),
    c('recompute with a leaf-fed mask copied below the shared node', (t) => {
      const mask = t.b.op('exp', [t.input([3, 6, 10], { scale: 0.2 })], {});
      const shared = t.b.mul(t.b.op('matmul', [t.input([3, 6, 5]), t.input([5, 10])], { transA: false, transB: false }), mask);
      return t.b.add(
        t.b.op('matmul', [shared, t.input([10, 4])], { transA: false, transB: false }),
        t.b.op('matmul', [shared, t.input([4, 10])], { transA: false, transB: true }),
      );
    }),
    c('recompute, realized after all: a shared producer also read through a reshape', (t) => {
      const shared = t.b.op('exp', [t.input([6, 8], { scale: 0.5 })], {});
      return t.b.add(
        t.b.op('matmul', [shared, t.input([8, 8])], { transA: false, transB: false }),
        t.b.reshape(t.b.neg(t.b.reshape(shared, [48])), [6, 8]),
      );
    }),
  ],
  reshape: [
    c('reshape of a param (copy)', (t) => t.b.reshape(t.param([2, 6]), [3, 4])),
    c('reshape alias of a computed node', (t) => t.b.reshape(t.b.op('exp', [t.input([2, 6])], {}), [4, 3])),
    c('reshape inlined between a fused producer and its consumer', (t) =>
      t.b.mul(t.b.reshape(t.b.op('exp', [t.input([2, 6])], {}), [3, 4]), t.input([4])),
    ),
    c('reshape alias read by a consumer', (t) => t.b.add(t.b.reshape(t.b.neg(t.input([6])), [2, 3]), t.input([2, 3]))),
  ],
  permute: [
    c('permute [2,3,4] by [2,0,1]', (t) => t.b.op('permute', [t.input([2, 3, 4])], { perm: [2, 0, 1] })),
    c('transpose last two', (t) => t.b.transposeLast(t.input([2, 3, 5]))),
    // Fused into its consumer: a head split read by an attention-score matmul, through a bias add.
    c('permute fused into a batched matmul operand', (t) =>
      t.b.op(
        'matmul',
        [t.b.op('permute', [t.b.add(t.input([2, 5, 3, 4]), t.input([3, 4]))], { perm: [0, 2, 1, 3] }), t.input([2, 3, 4, 6])],
        { transA: false, transB: false },
      ),
    ),
    c('epilogue: a scaled head permute', (t) =>
      t.b.mul(t.b.op('permute', [t.input([2, 3, 4, 5])], { perm: [0, 2, 1, 3] }), t.b.scalar(-0.5)),
    ),
  ],
  expand: [c('expand [1,3,1] to [2,3,4]', (t) => t.b.op('expand', [t.input([1, 3, 1])], { shape: [2, 3, 4] }))],
  slice: [
    c('slice [4,5,6]', (t) =>
      t.b.op('slice', [t.input([4, 5, 6])], {
        ranges: [
          { start: 1, stop: 3 },
          { start: 0, stop: null },
          { start: 2, stop: 5 },
        ],
      }),
    ),
    c('slice of i32 ids', (t) =>
      t.b.op('slice', [t.ids([3, 4], 9)], {
        ranges: [
          { start: 1, stop: null },
          { start: 0, stop: 3 },
        ],
      }),
    ),
    c('slice fused into a broadcast add (position rows)', (t) =>
      t.b.add(
        t.input([3, 4, 6]),
        t.b.op('slice', [t.input([9, 6])], {
          ranges: [
            { start: 2, stop: 6 },
            { start: 0, stop: null },
          ],
        }),
      ),
    ),
    c('epilogue: a slice plus a buffer', (t) =>
      t.b.add(
        t.b.op('slice', [t.input([4, 5, 6])], {
          ranges: [
            { start: 1, stop: 3 },
            { start: 0, stop: null },
            { start: 2, stop: 5 },
          ],
        }),
        t.input([2, 5, 3]),
      ),
    ),
  ],
  pad: [c('pad [3,4] by (1,0)/(2,3)', (t) => t.b.op('pad', [t.input([3, 4])], { before: [1, 0], after: [2, 3] }))],
  concat: [
    c('concat of 3 on axis 1', (t) => t.b.op('concat', [t.input([2, 3]), t.input([2, 1]), t.input([2, 4])], { axis: 1 })),
    c('concat of 9 (split over kernels) with a literal', (t) =>
      t.b.op(
        'concat',
        [
          ...Array.from({ length: 8 }, (_, i) => t.input([1 + (i % 3), 2])),
          t.b.op('expand', [t.b.reshape(t.b.scalar(7), [1, 1])], { shape: [2, 2] }),
        ],
        { axis: 0 },
      ),
    ),
  ],
  gather: [
    c('gather [7,3] by ids [2,4]', (t) => t.b.op('gather', [t.param([7, 3]), t.ids([2, 4], 7)], {})),
    c('gather by sliced ids', (t) =>
      t.b.op(
        'gather',
        [
          t.input([9, 2]),
          t.b.op('slice', [t.ids([3, 2], 9)], {
            ranges: [
              { start: 1, stop: null },
              { start: 0, stop: null },
            ],
          }),
        ],
        {},
      ),
    ),
  ],
  scatter_add: [
    c('scatter_add ids [2,4] into 7 rows', (t) =>
      t.b.op('scatter_add', [t.ids([2, 4], 7, [0, 3, 3, 6, 1, 3, 0, 5]), t.input([2, 4, 3])], { rows: 7 }),
    ),
  ],
  detach: [c('detach of a computed node, as a root', (t) => t.b.op('detach', [t.b.op('exp', [t.input([3, 4])], {})], {}))],
  causal_mask: [
    c('causal_mask 4×4', (t) => t.b.add(t.b.op('causal_mask', [], { rows: 4, cols: 4 }), t.input([4, 4]))),
    c('causal_mask 3×5 (prefix columns visible)', (t) => t.b.op('causal_mask', [], { rows: 3, cols: 5 })),
  ],
  one_hot: [
    c('one_hot with an ignored label', (t) => t.b.op('one_hot', [t.ids([5], 4, [2, 0, -1, 3, 1])], { classes: 4 })),
    c('one_hot fused into a cross-entropy pick and its gradient (shared)', (t) => {
      const picked = t.b.op('one_hot', [t.ids([2, 3], 5, [4, 0, -1, 2, 1, 3])], { classes: 5 });
      const logits = t.input([2, 3, 5]);
      const pick = t.b.op('sum', [t.b.mul(t.b.op('log_softmax', [logits], {}), picked)], { axes: [2], keepdims: true });
      return t.b.add(t.b.sub(t.b.op('softmax', [logits], {}), picked), pick);
    }),
  ],
  softmax: [
    c('softmax [3,7]', (t) => t.b.op('softmax', [t.input([3, 7], { scale: 4 })], {})),
    c('softmax row of 1100 (256 invocations)', (t) => t.b.op('softmax', [t.input([2, 1100], { scale: 4 })], {})),
    c('epilogue: softmax − one-hot-like buffer, through a fused exp', (t) =>
      t.b.sub(t.b.op('exp', [t.b.mul(t.b.op('softmax', [t.input([5, 7], { scale: 4 })], {}), t.b.scalar(0.5))], {}), t.input([5, 7])),
    ),
  ],
  // (softmax of a fused chain: exp → mul by a broadcast row → neg, all inside the row kernel)
  log_softmax: [
    c('log_softmax of a fused chain', (t) =>
      t.b.op('log_softmax', [t.b.neg(t.b.mul(t.b.op('exp', [t.input([3, 9])], {}), t.input([1, 9])))], {}),
    ),
    c('log_softmax [2,3,7]', (t) => t.b.op('log_softmax', [t.input([2, 3, 7], { scale: 4 })], {})),
    c('epilogue: a log_softmax times a buffer', (t) =>
      t.b.mul(t.b.op('log_softmax', [t.input([2, 3, 7], { scale: 4 })], {}), t.input([2, 3, 7])),
    ),
  ],
  normalize: [
    c('normalize [4,9]', (t) => t.b.op('normalize', [t.input([4, 9], { scale: 3 })], { eps: 1e-5 })),
    // Epilogue chain: a layer norm's affine (mul, then add, each with a broadcast operand) at the normalisation's store.
    c('epilogue: layer-norm affine after normalize [2,70,33]', (t) =>
      t.b.add(t.b.mul(t.b.op('normalize', [t.input([2, 70, 33], { scale: 3 })], { eps: 1e-5 }), t.input([33])), t.input([33])),
    ),
  ],
  normalize_grad: [
    c('normalize_grad [4,9]', (t) => t.b.op('normalize_grad', [t.input([4, 9], { scale: 3 }), t.input([4, 9])], { eps: 1e-5 })),
    c('epilogue: gradient accumulation after normalize_grad [3,1100]', (t) =>
      t.b.add(t.input([3, 1100]), t.b.op('normalize_grad', [t.input([3, 1100], { scale: 3 }), t.input([3, 1100])], { eps: 1e-5 })),
    ),
  ],
  dropout_mask: [
    c('dropout_mask p=0.3', (t) => t.b.op('dropout_mask', [t.ids([], 1, [123456789])], { shape: [4, 50], p: 0.3, salt: 7 })),
    c('dropout fused into a mul and a gelu', (t) =>
      t.b.op('gelu', [t.b.mul(t.input([6, 40]), t.b.op('dropout_mask', [t.ids([], 1, [99])], { shape: [6, 40], p: 0.25, salt: 3 }))], {}),
    ),
    c('dropout_mask negative seed', (t) => t.b.op('dropout_mask', [t.ids([], 1, [-5])], { shape: [3, 3], p: 0.5, salt: 0xdeadbeef })),
  ],
};

interface Built {
  g: Graph;
  feeds: Feeds;
  roots: { op: OpKind; name: string; node: NodeId }[];
}

function buildAll(): Built {
  const t = new TestGraph(7);
  const roots: Built['roots'] = [];
  for (const [op, list] of Object.entries(cases) as [OpKind, Case[] | 'leaf'][]) {
    if (list === 'leaf') continue;
    for (const k of list) roots.push({ op, name: k.name, node: k.build(t) });
  }
  return { g: t.build(), feeds: t.feeds, roots };
}

/** A second, small graph rendered with a 4-workgroup limit so kernels take the 2-D grid path. */
function build2d(): Built {
  const t = new TestGraph(11);
  const x = t.input([5, 300]);
  const roots = [
    { op: 'exp' as OpKind, name: '2-D exp [5,300]', node: t.b.op('exp', [x], {}) },
    { op: 'add' as OpKind, name: '2-D add broadcast', node: t.b.add(x, t.input([300])) },
    { op: 'softmax' as OpKind, name: '2-D softmax, 9 rows', node: t.b.op('softmax', [t.input([9, 5])], {}) },
    {
      op: 'sum' as OpKind,
      name: '2-D sum, 6 workgroup reductions',
      node: t.b.op('sum', [t.input([6, 260])], { axes: [1], keepdims: false }),
    },
  ];
  return { g: t.build(), feeds: t.feeds, roots };
}

let ctx: GpuContext;
const results = new Map<string, { gpu: Float32Array; ref: Float64Array }>();

const targets: KernelTarget[] = ['gpu', 'cpu'];

async function runSuite(b: Built, target: KernelTarget, opts: { maxWorkgroupsPerDim?: number } = {}): Promise<void> {
  const ref = runReference(b.g, b.feeds);
  const { values, exec } = await runOnGpu(
    ctx,
    b.g,
    b.feeds,
    b.roots.map((r) => r.node),
    { ...opts, target },
  );
  exec.destroy();
  fusedKernels = Math.max(
    fusedKernels,
    planGraph(b.g, { roots: b.roots.map((r) => r.node), keep: [] }).kernels.filter((k) => k.nodes.length > 1).length,
  );
  for (const r of b.roots) results.set(`${target}: ${r.name}`, { gpu: values.get(r.node)!, ref: ref[r.node]!.data });
}

let fusedKernels = 0;
const main = buildAll();
const grid2d = build2d();

beforeAll(async () => {
  ctx = await openDevice();
  for (const target of targets) {
    await runSuite(main, target);
    await runSuite(grid2d, target, { maxWorkgroupsPerDim: 4 });
  }
});

afterAll(() => ctx?.close());

function check(name: string): void {
  const r = results.get(name);
  expect(r, `no result for ${name}`).toBeDefined();
  const { err, at } = maxRelError(r!.gpu, r!.ref);
  expect(err, `${name}: element ${at}: gpu ${r!.gpu[at]} vs reference ${r!.ref[at]}`).toBeLessThanOrEqual(1e-4);
}

describe('WGSL kernels match the float64 reference', () => {
  it('includes fused kernels (elementwise producers inlined into their consumers)', () => {
    expect(fusedKernels).toBeGreaterThanOrEqual(3);
  });

  it('includes recomputed producers (one node inlined into several kernels), for both targets', () => {
    for (const target of targets) {
      const kernels = planGraph(main.g, { roots: main.roots.map((r) => r.node), keep: [], target }).kernels;
      const homes = new Map<number, number>();
      for (const k of kernels) for (const id of k.nodes) if (id !== k.output) homes.set(id, (homes.get(id) ?? 0) + 1);
      expect([...homes.values()].filter((n) => n > 1).length, target).toBeGreaterThanOrEqual(2);
    }
  });

  it('includes epilogue kernels (a matmul, reduction or row op computed inside its consumer), for both targets', () => {
    for (const target of targets) {
      const kernels = planGraph(main.g, { roots: main.roots.map((r) => r.node), keep: [], target }).kernels;
      const coreOps = kernels.filter((k) => k.core !== undefined).map((k) => main.g.nodes[k.core!]!.op);
      expect(coreOps.filter((op) => op === 'matmul').length, target).toBeGreaterThanOrEqual(4);
      for (const op of ['sum', 'max', 'softmax', 'log_softmax', 'normalize', 'normalize_grad'])
        expect(coreOps, `${target}: an epilogue on ${op}`).toContain(op);
    }
  });

  for (const target of targets)
    for (const r of [...main.roots, ...grid2d.roots]) it(`${target} ${r.op}: ${r.name}`, () => check(`${target}: ${r.name}`));

  it('dropout keeps about 1 - p and matches the reference bit for bit', () => {
    const r = results.get('gpu: dropout_mask p=0.3')!;
    const kept = r.gpu.filter((v) => v !== 0).length / r.gpu.length;
    expect(kept).toBeGreaterThan(0.5);
    expect(kept).toBeLessThan(0.9);
    r.gpu.forEach((v, i) => expect(v === 0).toBe(r.ref[i] === 0));
  });

  it('gelu is accurate to 1e-6 relative where it is not tiny', () => {
    const r = results.get('gpu: gelu over [-8, 8] and tails')!;
    r.ref.forEach((v, i) => {
      if (Math.abs(v) > 1e-3) expect(Math.abs(r.gpu[i]! - v) / Math.abs(v)).toBeLessThan(1e-6);
    });
  });
});

describe('executor errors', () => {
  it('reports a WGSL error with the kernel and its source line', async () => {
    const t = new TestGraph();
    const y = t.b.op('exp', [t.input([4])], {});
    const plan = planGraph(t.build(), { roots: [y], keep: [y] });
    plan.steps[0]!.shader.code = plan.steps[0]!.shader.code.replace('exp(x)', 'exp(x, x)');
    await expect(PlanExecutor.create(ctx, plan)).rejects.toThrow(/kernel 0 \(exp\) line \d+:[^]*exp\(x, x\)/);
    ctx.check();
  });

  it('refuses to read back a pooled temporary, and checks feed sizes', async () => {
    const t = new TestGraph();
    const x = t.input([4]);
    const a = t.b.op('exp', [x], {});
    const y = t.b.op('neg', [a], {});
    const exec = await PlanExecutor.create(ctx, planGraph(t.build(), { roots: [y], keep: [y], fuse: false }));
    try {
      await expect(exec.run({ read: [a] })).rejects.toThrow(/temporary/);
      expect(() => exec.writeInput(x, new Float32Array(3))).toThrow(/4 elements/);
      expect(() => exec.writeInput(x, new Int32Array(4))).toThrow(/Float32Array/);
    } finally {
      exec.destroy();
    }
  });
});

describe('device', () => {
  it('describes the adapter it opened', () => {
    expect(ctx.description.length).toBeGreaterThan(0);
    if (ctx.software) expect(ctx.description).toMatch(/lavapipe|SwiftShader|software/);
  });

  it('recognizes lavapipe and real GPUs from adapter info', () => {
    const info = (o: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean }) =>
      ({ vendor: '', architecture: '', device: '', description: '', ...o }) as GPUAdapterInfo;
    const lvp = info({
      vendor: 'mesa',
      architecture: 'software',
      device: 'llvmpipe-llvm-15',
      description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
    });
    expect(describeAdapter(lvp)).toBe('lavapipe (Mesa 25.0.7, software Vulkan)');
    expect(isSoftwareAdapter(lvp)).toBe(true);
    const h100 = info({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100 80GB HBM3' });
    expect(describeAdapter(h100)).toBe('nvidia: NVIDIA H100 80GB HBM3 (hopper)');
    expect(isSoftwareAdapter(h100)).toBe(false);
  });
});
