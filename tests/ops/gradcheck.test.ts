/**
 * Gradient conformance: every differentiable op's VJP, run through `differentiate` and the
 * float64 reference, against central finite differences. The case table is exhaustive over
 * `OpKind`, so a new op without a case (or an explicit 'not differentiable') fails to compile.
 */
import { describe, expect, it } from 'vitest';
import { differentiate } from '../../compiler/grad/grad.ts';
import { vjpRules } from '../../compiler/grad/vjp.ts';
import { type Span, internalSpan } from '../../core/span.ts';
import { type Graph, GraphBuilder, type NodeId } from '../../compiler/ir/graph.ts';
import type { DType, OpKind } from '../../compiler/ops/kinds.ts';
import { mulberry32, runReference } from '../../runtime/reference-run.ts';
import { elementCount } from '../../core/dim.ts';

// ------------------------------------------------------------------ graph and data helpers

function param(b: GraphBuilder, name: string, shape: number[], trainable = true, origin: Span = internalSpan): NodeId {
  const id = b.op('param', [], { name, shape }, origin);
  b.params.push({ name, node: id, shape, init: { kind: 'zeros' }, trainable, origin });
  return id;
}

function input(b: GraphBuilder, name: string, shape: number[], dtype: DType): NodeId {
  const id = b.op('input', [], { name, shape, dtype });
  b.inputs.push({ name, node: id, shape, dtype });
  return id;
}

/** Values in ±[0.5, 1.5]: away from 0, the kink of relu and the pole of recip/div. */
function nonZero(rng: () => number, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => (0.5 + rng()) * (rng() < 0.5 ? -1 : 1));
}

type Feeds = { params: Map<string, Float64Array>; inputs: Map<string, Float64Array | Int32Array> };

const lossOf = (g: Graph, feeds: Feeds) => runReference(g, feeds)[g.outputs.loss!]!.data[0]!;

/**
 * Differentiates `fwd`, evaluates every trainable param's gradient with the reference and
 * compares each element with (L(θ+h) − L(θ−h)) / 2h; returns the differentiated graph.
 */
function checkGradients(fwd: Graph, feeds: Feeds): Graph {
  const full = differentiate(fwd);
  const values = runReference(full, feeds);
  const h = 1e-6;
  for (const p of fwd.params.filter((q) => q.trainable)) {
    const analytic = values[full.grads[p.name]!]!.data;
    const theta = feeds.params.get(p.name)!;
    expect(analytic.length).toBe(theta.length);
    for (let i = 0; i < theta.length; i++) {
      const at = (delta: number) => {
        const moved = theta.slice();
        moved[i]! += delta;
        return lossOf(fwd, { ...feeds, params: new Map(feeds.params).set(p.name, moved) });
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      const err = Math.abs(analytic[i]! - numeric) / Math.max(1, Math.abs(numeric));
      expect(err, `d loss / d ${p.name}[${i}]: analytic ${analytic[i]}, numeric ${numeric}`).toBeLessThan(1e-6);
    }
  }
  return full;
}

// ------------------------------------------------------------------ the case table

interface GradCase {
  /** Trainable f32 params; random non-zero values unless given. */
  readonly params: Readonly<Record<string, { shape: number[]; values?: number[] }>>;
  /** Integer inputs (ids, labels). */
  readonly ints?: Readonly<Record<string, { shape: number[]; values: number[] }>>;
  readonly build: (b: GraphBuilder, p: Record<string, NodeId>, i: Record<string, NodeId>) => NodeId;
}

type Entry = GradCase | readonly GradCase[] | 'not differentiable';

const positive = (n: number) => Array.from({ length: n }, (_, i) => 0.5 + 0.37 * i);
const x23 = { x: { shape: [2, 3] } };
const unary = (op: 'neg' | 'exp' | 'tanh' | 'recip' | 'sigmoid' | 'relu' | 'gelu'): GradCase => ({
  params: x23,
  build: (b, p) => b.op(op, [p.x!], {}),
});
const two = (op: 'add' | 'sub' | 'mul' | 'div', sa: number[], sb: number[]): GradCase => ({
  params: { a: { shape: sa }, b: { shape: sb } },
  build: (b, p) => b.op(op, [p.a!, p.b!], {}),
});
const mm = (sa: number[], sb: number[], transA: boolean, transB: boolean): GradCase => ({
  params: { a: { shape: sa }, b: { shape: sb } },
  build: (b, p) => b.op('matmul', [p.a!, p.b!], { transA, transB }),
});

const cases: { readonly [K in OpKind]: Entry } = {
  // Leaves: their gradients are what every case below checks.
  param: 'not differentiable',
  input: 'not differentiable',
  const: 'not differentiable',

  neg: unary('neg'),
  exp: unary('exp'),
  log: { params: { x: { shape: [2, 3], values: positive(6) } }, build: (b, p) => b.op('log', [p.x!], {}) },
  tanh: unary('tanh'),
  sqrt: { params: { x: { shape: [2, 3], values: positive(6) } }, build: (b, p) => b.op('sqrt', [p.x!], {}) },
  recip: unary('recip'),
  sigmoid: unary('sigmoid'),
  relu: unary('relu'),
  gelu: unary('gelu'),
  gelu_grad: 'not differentiable',
  step: 'not differentiable',

  add: [two('add', [2, 3], [3]), two('add', [2, 1], [1, 3])],
  sub: [two('sub', [2, 3], [2, 1]), two('sub', [], [2, 2])],
  mul: [two('mul', [2, 3], [3]), two('mul', [3, 1], []), { params: x23, build: (b, p) => b.mul(p.x!, p.x!) }],
  div: [two('div', [2, 3], [3]), two('div', [2, 1], [2, 3])],
  eq: 'not differentiable',

  sum: [
    { params: x23, build: (b, p) => b.op('sum', [p.x!], { axes: [1], keepdims: false }) },
    { params: { x: { shape: [2, 3, 2] } }, build: (b, p) => b.op('sum', [p.x!], { axes: [0, 2], keepdims: true }) },
  ],
  max: [
    { params: { x: { shape: [3, 4] } }, build: (b, p) => b.op('max', [p.x!], { axes: [1], keepdims: false }) },
    { params: { x: { shape: [3, 2, 2] } }, build: (b, p) => b.op('max', [p.x!], { axes: [0, 2], keepdims: true }) },
  ],

  matmul: [
    mm([2, 3], [3, 4], false, false),
    mm([3, 2], [3, 4], true, false),
    mm([2, 3], [4, 3], false, true),
    mm([3, 2], [4, 3], true, true),
    // A linear layer over batched rows, both weight layouts (the folded weight-gradient path).
    mm([2, 3, 4], [5, 4], false, true),
    mm([2, 3, 4], [4, 5], false, false),
    // Broadcast batch axes, and a transposed batched left operand against a shared right one.
    mm([2, 1, 3, 4], [3, 4, 2], false, false),
    mm([2, 4, 3], [4, 5], true, false),
    mm([3, 4], [2, 4, 5], false, false),
    mm([3, 4], [2, 5, 4], false, true),
  ],

  reshape: { params: x23, build: (b, p) => b.op('reshape', [p.x!], { shape: [3, 1, 2] }) },
  permute: { params: { x: { shape: [2, 3, 4] } }, build: (b, p) => b.op('permute', [p.x!], { perm: [2, 0, 1] }) },
  expand: [
    { params: { x: { shape: [2, 1] } }, build: (b, p) => b.op('expand', [p.x!], { shape: [2, 3] }) },
    { params: { x: { shape: [1, 3, 1] } }, build: (b, p) => b.op('expand', [p.x!], { shape: [2, 3, 4] }) },
  ],
  slice: {
    params: { x: { shape: [3, 4] } },
    build: (b, p) =>
      b.op('slice', [p.x!], {
        ranges: [
          { start: 1, stop: null },
          { start: 1, stop: 3 },
        ],
      }),
  },
  pad: { params: x23, build: (b, p) => b.op('pad', [p.x!], { before: [1, 0], after: [0, 2] }) },
  concat: [
    {
      params: { a: { shape: [2, 1] }, b: { shape: [2, 3] }, c: { shape: [2, 2] } },
      build: (b, p) => b.op('concat', [p.a!, p.b!, p.c!], { axis: 1 }),
    },
    // One source twice: both slices accumulate into it.
    { params: x23, build: (b, p) => b.op('concat', [p.x!, p.x!], { axis: 0 }) },
  ],

  gather: {
    params: { table: { shape: [4, 3] } },
    ints: { ids: { shape: [2, 3], values: [3, 0, 3, 1, 1, 3] } },
    build: (b, p, i) => b.op('gather', [p.table!, i.ids!], {}),
  },
  scatter_add: 'not differentiable',
  one_hot: 'not differentiable',
  detach: 'not differentiable',
  causal_mask: 'not differentiable',

  softmax: { params: { x: { shape: [2, 4] } }, build: (b, p) => b.op('softmax', [p.x!], {}) },
  log_softmax: { params: { x: { shape: [2, 4] } }, build: (b, p) => b.op('log_softmax', [p.x!], {}) },
  normalize: { params: { x: { shape: [3, 5] } }, build: (b, p) => b.op('normalize', [p.x!], { eps: 1e-5 }) },
  normalize_grad: 'not differentiable',
  dropout_mask: 'not differentiable',
};

/** Builds `loss = sum(op(...) * R)` for a case, with R a fixed random input. */
function caseGraph(c: GradCase, seed: number): { fwd: Graph; feeds: Feeds } {
  const rng = mulberry32(seed);
  const b = new GraphBuilder();
  const p: Record<string, NodeId> = {};
  const ids: Record<string, NodeId> = {};
  const feeds: Feeds = { params: new Map(), inputs: new Map() };
  for (const [name, spec] of Object.entries(c.params)) {
    p[name] = param(b, name, spec.shape);
    feeds.params.set(name, spec.values ? Float64Array.from(spec.values) : nonZero(rng, elementCount(spec.shape)));
  }
  for (const [name, spec] of Object.entries(c.ints ?? {})) {
    ids[name] = input(b, name, spec.shape, 'i32');
    feeds.inputs.set(name, Int32Array.from(spec.values));
  }
  const out = c.build(b, p, ids);
  const shape = b.shape(out) as number[];
  const r = input(b, 'R', shape, 'f32');
  feeds.inputs.set('R', nonZero(rng, elementCount(shape)));
  b.outputs.loss = b.sum(
    b.mul(out, r),
    shape.map((_, i) => i),
    false,
  );
  return { fwd: b.build(), feeds };
}

describe('gradcheck: every op kind', () => {
  for (const kind of Object.keys(cases) as OpKind[]) {
    const entry = cases[kind];
    it(`${kind}`, () => {
      // The table and the rules must agree on what is differentiable.
      expect(vjpRules[kind] === null, `vjpRules.${kind}`).toBe(entry === 'not differentiable');
      if (entry === 'not differentiable') return;
      const list: readonly GradCase[] = Array.isArray(entry) ? entry : [entry as GradCase];
      list.forEach((c, k) => {
        const { fwd, feeds } = caseGraph(c, 1000 + k);
        expect(
          fwd.nodes.some((n) => n.op === kind),
          `case ${k} uses ${kind}`,
        ).toBe(true);
        checkGradients(fwd, feeds);
      });
    });
  }
});

describe('gradcheck: composed model', () => {
  it('2-layer MLP with layer norm, gelu, dropout and softmax cross-entropy', () => {
    const [N, D, H, C] = [4, 5, 6, 3];
    const b = new GraphBuilder();
    const x = input(b, 'x', [N, D], 'f32');
    const labels = input(b, 'labels', [N], 'i32');
    const seed = input(b, 'seed', [], 'i32');
    const [w1, b1, gamma, beta, w2, b2] = [
      param(b, 'w1', [H, D]),
      param(b, 'b1', [H]),
      param(b, 'gamma', [H]),
      param(b, 'beta', [H]),
      param(b, 'w2', [C, H]),
      param(b, 'b2', [C]),
    ];
    let h = b.add(b.op('matmul', [x, w1], { transA: false, transB: true }), b1);
    h = b.add(b.mul(b.op('normalize', [h], { eps: 1e-5 }), gamma), beta);
    h = b.op('gelu', [h], {});
    h = b.mul(h, b.op('dropout_mask', [seed], { shape: [N, H], p: 0.25, salt: 11 }));
    const logits = b.add(b.op('matmul', [h, w2], { transA: false, transB: true }), b2);
    const picked = b.mul(b.op('one_hot', [labels], { classes: C }), b.op('log_softmax', [logits], {}));
    b.outputs.loss = b.div(b.neg(b.sum(picked, [0, 1], false)), b.scalar(N));
    const fwd = b.build();

    const rng = mulberry32(7);
    const feeds: Feeds = { params: new Map(), inputs: new Map() };
    for (const p of fwd.params) feeds.params.set(p.name, nonZero(rng, elementCount(p.shape as number[])));
    feeds.inputs
      .set('x', nonZero(rng, N * D))
      .set('labels', Int32Array.of(0, 2, 1, 2))
      .set('seed', Int32Array.of(12345));
    const full = checkGradients(fwd, feeds);
    expect(Object.keys(full.grads).sort()).toEqual(['b1', 'b2', 'beta', 'gamma', 'w1', 'w2']);
  });
});

describe('differentiate', () => {
  it('refuses to pass a gradient through a non-differentiable op', () => {
    const b = new GraphBuilder();
    const w = param(b, 'w', [3]);
    b.outputs.loss = b.sum(b.op('step', [w], {}), [0], false);
    expect(() => differentiate(b.build())).toThrow(/cannot differentiate through 'step'.*trainable/);
  });

  it('needs a scalar loss output', () => {
    const b = new GraphBuilder();
    b.outputs.loss = b.mul(param(b, 'w', [3]), b.scalar(2));
    expect(() => differentiate(b.build())).toThrow(/must be a scalar/);
    expect(() => differentiate(b.build(), 'nope')).toThrow(/no output named 'nope'/);
  });

  it('gives an unused trainable param a zero gradient of its shape', () => {
    const b = new GraphBuilder();
    const w = param(b, 'w', [2]);
    param(b, 'unused', [2, 3]);
    b.outputs.loss = b.sum(b.mul(w, w), [0], false);
    const full = differentiate(b.build());
    const v = runReference(full, {
      params: new Map([
        ['w', Float64Array.of(1, 2)],
        ['unused', new Float64Array(6)],
      ]),
      inputs: new Map(),
    });
    expect(full.nodes[full.grads.unused!]!.shape).toEqual([2, 3]);
    expect([...v[full.grads.unused!]!.data]).toEqual([0, 0, 0, 0, 0, 0]);
    expect([...v[full.grads.w!]!.data]).toEqual([2, 4]);
  });

  it('attributes backward nodes to the forward node they differentiate', () => {
    const span: Span = { file: 'm.mile', line: 3, col: 5, endLine: 3, endCol: 12 };
    const b = new GraphBuilder();
    const w = param(b, 'w', [2, 2]);
    const y = b.op('tanh', [w], {}, span);
    b.outputs.loss = b.sum(y, [0, 1], false);
    const fwd = b.build();
    const full = differentiate(fwd);
    const backward = full.nodes.slice(fwd.nodes.length);
    // tanh's rule builds y², 1 − y² and g·(1 − y²): all carry tanh's span.
    expect(backward.filter((n) => n.origin === span).map((n) => n.op)).toEqual(expect.arrayContaining(['mul', 'sub']));
    expect(full.nodes[full.grads.w!]!.origin).toEqual(span);
  });

  it('splits a max gradient evenly among ties', () => {
    const b = new GraphBuilder();
    const w = param(b, 'w', [4]);
    b.outputs.loss = b.op('max', [w], { axes: [0], keepdims: false });
    const full = differentiate(b.build());
    const v = runReference(full, { params: new Map([['w', Float64Array.of(1, 3, -2, 3)]]), inputs: new Map() });
    expect([...v[full.grads.w!]!.data]).toEqual([0, 0.5, 0, 0.5]);
  });
});
