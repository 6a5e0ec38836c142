/** The float64 reference ops on small hand-computed cases, and the reference executor. */
import { describe, expect, it } from 'vitest';
import { internalSpan } from '../../core/span.ts';
import { elementCount } from '../../core/dim.ts';
import { GraphBuilder } from '../../compiler/ir/graph.ts';
import { dropoutKeeps } from '../../compiler/ops/hash.ts';
import { type DType, type OpAttrs, type OpKind, opInfo } from '../../compiler/ops/kinds.ts';
import { erf, erfc, type RefTensor, referenceOps } from '../../compiler/ops/reference.ts';
import { initParam, mulberry32, runReference } from '../../runtime/reference-run.ts';

const t = (shape: number[], data: number[]): RefTensor => ({ shape, data: Float64Array.from(data) });

/** Runs one op, taking the output shape from its shape rule (so the two are checked together). */
function ev<K extends OpKind>(op: K, srcs: RefTensor[], attrs: OpAttrs[K], dtypes: DType[] = []): { shape: number[]; data: number[] } {
  const r = opInfo[op].infer(
    srcs.map((s, i) => ({ shape: s.shape, dtype: dtypes[i] ?? 'f32' })),
    attrs,
  );
  if (typeof r === 'string') throw new Error(r);
  const shape = r.shape as number[];
  const data = referenceOps[op](srcs, attrs, { shape });
  expect(data.length).toBe(elementCount(shape));
  return { shape, data: [...data] };
}

const close = (got: number[], want: number[], tol = 1e-12) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i]!))));
};

describe('elementwise', () => {
  it('const, optionally divided by a concrete denom', () => {
    expect(ev('const', [], { value: 2.5 })).toEqual({ shape: [], data: [2.5] });
    expect(ev('const', [], { value: 5, denom: 4 }).data).toEqual([1.25]);
  });

  it('unary ops', () => {
    const x = t([4], [-2, -0.5, 0.5, 2]);
    expect(ev('neg', [x], {}).data).toEqual([2, 0.5, -0.5, -2]);
    expect(ev('relu', [x], {}).data).toEqual([0, 0, 0.5, 2]);
    expect(ev('step', [t([3], [-1, 0, 3])], {}).data).toEqual([0, 0, 1]);
    close(ev('exp', [t([2], [0, 1])], {}).data, [1, Math.E]);
    close(ev('log', [t([2], [1, Math.E])], {}).data, [0, 1]);
    close(ev('tanh', [t([2], [0, 1])], {}).data, [0, 0.7615941559557649]);
    close(ev('sqrt', [t([2], [4, 2])], {}).data, [2, Math.SQRT2]);
    close(ev('recip', [t([2], [4, -0.5])], {}).data, [0.25, -2]);
  });

  it('sigmoid is exact at 0 and does not overflow', () => {
    const s = ev('sigmoid', [t([4], [0, -800, 800, 2])], {}).data;
    close(s, [0.5, 0, 1, 1 / (1 + Math.exp(-2))]);
    expect(s.every(Number.isFinite)).toBe(true);
  });

  it('erf matches high-precision values', () => {
    close([0.5, 1, 2, 3].map(erf), [0.52049987781304654, 0.84270079294971487, 0.99532226501895273, 0.99997790950300141], 1e-14);
    close([erf(-1)], [-0.84270079294971487], 1e-14);
    expect(Math.abs(erfc(5) / 1.5374597944280349e-12 - 1)).toBeLessThan(1e-12);
  });

  it('gelu is the exact erf form, accurate in its negative tail', () => {
    close(ev('gelu', [t([4], [0, 1, -1, 3])], {}).data, [0, 0.84134474606854295, -0.15865525393145705, 2.9959503059051097], 1e-14);
    const tail = ev('gelu', [t([1], [-10])], {}).data[0]!;
    expect(Math.abs(tail / -7.619853024160526e-23 - 1)).toBeLessThan(1e-10);
  });

  it('gelu_grad is the derivative of gelu', () => {
    close(ev('gelu_grad', [t([3], [0, 1, -2])], {}).data, [0.5, 1.0833154705876863, -0.085231801078196897], 1e-13);
  });

  it('binary ops broadcast numpy-style', () => {
    const a = t([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(ev('add', [a, t([3], [10, 20, 30])], {})).toEqual({ shape: [2, 3], data: [11, 22, 33, 14, 25, 36] });
    expect(ev('sub', [a, t([2, 1], [1, 2])], {}).data).toEqual([0, 1, 2, 2, 3, 4]);
    expect(ev('mul', [t([2, 1], [2, 3]), t([1, 3], [1, 10, 100])], {})).toEqual({ shape: [2, 3], data: [2, 20, 200, 3, 30, 300] });
    expect(ev('div', [a, t([], [2])], {}).data).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
    expect(ev('eq', [a, t([3], [1, 5, 3])], {}).data).toEqual([1, 0, 1, 0, 1, 0]);
  });
});

describe('reductions', () => {
  const x = t([2, 3], [1, 5, 2, 7, 0, 3]);
  it('sum over axes with and without keepdims', () => {
    expect(ev('sum', [x], { axes: [1], keepdims: false })).toEqual({ shape: [2], data: [8, 10] });
    expect(ev('sum', [x], { axes: [0], keepdims: true })).toEqual({ shape: [1, 3], data: [8, 5, 5] });
    expect(ev('sum', [x], { axes: [0, 1], keepdims: false })).toEqual({ shape: [], data: [18] });
  });
  it('sum over a middle axis', () => {
    const y = t([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ev('sum', [y], { axes: [1], keepdims: false })).toEqual({ shape: [2, 2], data: [4, 6, 12, 14] });
  });
  it('max', () => {
    expect(ev('max', [x], { axes: [1], keepdims: true })).toEqual({ shape: [2, 1], data: [5, 7] });
    expect(ev('max', [x], { axes: [0], keepdims: false }).data).toEqual([7, 5, 3]);
  });
});

describe('matmul', () => {
  const a = t([2, 3], [1, 2, 3, 4, 5, 6]);
  const b = t([3, 2], [7, 8, 9, 10, 11, 12]);
  it('plain', () => {
    expect(ev('matmul', [a, b], { transA: false, transB: false })).toEqual({ shape: [2, 2], data: [58, 64, 139, 154] });
  });
  it('transposed operands', () => {
    // aᵀ is [3, 2]; aᵀ @ a.
    expect(ev('matmul', [a, a], { transA: true, transB: false })).toEqual({ shape: [3, 3], data: [17, 22, 27, 22, 29, 36, 27, 36, 45] });
    // a @ aᵀ
    expect(ev('matmul', [a, a], { transA: false, transB: true })).toEqual({ shape: [2, 2], data: [14, 32, 32, 77] });
    // bᵀ @ aᵀ = (a @ b)ᵀ
    expect(ev('matmul', [b, a], { transA: true, transB: true })).toEqual({ shape: [2, 2], data: [58, 139, 64, 154] });
  });
  it('broadcasts batch axes', () => {
    // Two batches of a against one shared b, and a batch of 1 against a batch of 2.
    const a2 = t([2, 1, 2], [1, 2, 3, 4]);
    const m = t([2, 2], [1, 0, 0, 2]);
    expect(ev('matmul', [a2, m], { transA: false, transB: false })).toEqual({ shape: [2, 1, 2], data: [1, 4, 3, 8] });
    const left = t([1, 1, 2], [1, 1]);
    const right = t([2, 2, 1], [1, 2, 3, 4]);
    expect(ev('matmul', [left, right], { transA: false, transB: false })).toEqual({ shape: [2, 1, 1], data: [3, 7] });
  });
});

describe('movement', () => {
  const x = t([2, 3], [1, 2, 3, 4, 5, 6]);
  it('reshape and permute', () => {
    expect(ev('reshape', [x], { shape: [3, 2] })).toEqual({ shape: [3, 2], data: [1, 2, 3, 4, 5, 6] });
    expect(ev('permute', [x], { perm: [1, 0] })).toEqual({ shape: [3, 2], data: [1, 4, 2, 5, 3, 6] });
    const y = t([2, 1, 3], [1, 2, 3, 4, 5, 6]);
    expect(ev('permute', [y], { perm: [2, 0, 1] })).toEqual({ shape: [3, 2, 1], data: [1, 4, 2, 5, 3, 6] });
  });
  it('expand', () => {
    expect(ev('expand', [t([2, 1], [1, 2])], { shape: [2, 3] }).data).toEqual([1, 1, 1, 2, 2, 2]);
    expect(ev('expand', [t([1, 2], [1, 2])], { shape: [2, 2] }).data).toEqual([1, 2, 1, 2]);
  });
  it('slice with explicit and open stops', () => {
    expect(
      ev('slice', [x], {
        ranges: [
          { start: 1, stop: null },
          { start: 0, stop: 2 },
        ],
      }),
    ).toEqual({ shape: [1, 2], data: [4, 5] });
    expect(
      ev('slice', [x], {
        ranges: [
          { start: 0, stop: null },
          { start: 1, stop: null },
        ],
      }),
    ).toEqual({ shape: [2, 2], data: [2, 3, 5, 6] });
  });
  it('pad with zeros', () => {
    expect(ev('pad', [t([1, 2], [1, 2])], { before: [1, 0], after: [0, 1] })).toEqual({ shape: [2, 3], data: [0, 0, 0, 1, 2, 0] });
  });
  it('concat along an axis', () => {
    expect(ev('concat', [x, t([2, 1], [7, 8])], { axis: 1 })).toEqual({ shape: [2, 4], data: [1, 2, 3, 7, 4, 5, 6, 8] });
    expect(ev('concat', [t([1, 2], [1, 2]), t([2, 2], [3, 4, 5, 6])], { axis: 0 }).data).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('indexing', () => {
  const table = t([3, 2], [0, 1, 10, 11, 20, 21]);
  it('gather rows', () => {
    expect(ev('gather', [table, t([2, 2], [2, 0, 1, 1])], {}, ['f32', 'i32'])).toEqual({
      shape: [2, 2, 2],
      data: [20, 21, 0, 1, 10, 11, 10, 11],
    });
  });
  it('gather rejects out-of-range ids, naming the id and the table size', () => {
    expect(() => ev('gather', [table, t([2], [0, 3])], {}, ['f32', 'i32'])).toThrow(/id 3 .*3 rows/);
    expect(() => ev('gather', [table, t([1], [-1])], {}, ['f32', 'i32'])).toThrow(/id -1/);
  });
  it('scatter_add sums repeated ids', () => {
    const g = t([3, 2], [1, 2, 3, 4, 5, 6]);
    expect(ev('scatter_add', [t([3], [0, 2, 0]), g], { rows: 3 }, ['i32', 'f32'])).toEqual({ shape: [3, 2], data: [6, 8, 0, 0, 3, 4] });
  });
  it('one_hot, with an all-zero row for a label outside the classes', () => {
    expect(ev('one_hot', [t([3], [2, 0, -1])], { classes: 3 }, ['i32'])).toEqual({ shape: [3, 3], data: [0, 0, 1, 1, 0, 0, 0, 0, 0] });
  });
});

describe('row ops', () => {
  it('softmax and log_softmax, stable for large inputs', () => {
    const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
    const s = e[0]! + e[1]! + e[2]!;
    close(
      ev('softmax', [t([1, 3], [1, 2, 3])], {}).data,
      e.map((v) => v / s),
    );
    close(ev('softmax', [t([2, 2], [1000, 1000, 0, 1000])], {}).data, [0.5, 0.5, 0, 1]);
    close(ev('log_softmax', [t([2], [1, 1])], {}).data, [-Math.LN2, -Math.LN2]);
    close(ev('log_softmax', [t([2], [1000, 0])], {}).data, [0, -1000]);
  });
  it('normalize uses the biased variance', () => {
    const k = 1 / Math.sqrt(2 / 3);
    close(ev('normalize', [t([1, 3], [1, 2, 3])], { eps: 0 }).data, [-k, 0, k]);
    // A constant row normalizes to zeros once eps > 0.
    close(ev('normalize', [t([3], [5, 5, 5])], { eps: 1e-5 }).data, [0, 0, 0]);
    close(ev('normalize', [t([2], [0, 2])], { eps: 1 }).data, [-1 / Math.SQRT2, 1 / Math.SQRT2]);
  });
  it('normalize_grad is the VJP of normalize (against finite differences)', () => {
    const x = [0.3, -1.2, 2.0, 0.7];
    const dy = [1.5, -0.4, 0.25, 2.0];
    const eps = 1e-3;
    const f = (xs: number[]) => ev('normalize', [t([4], xs)], { eps }).data.reduce((a, v, i) => a + v * dy[i]!, 0);
    const h = 1e-6;
    const fd = x.map((_, i) => (f(x.map((v, j) => (j === i ? v + h : v))) - f(x.map((v, j) => (j === i ? v - h : v)))) / (2 * h));
    close(ev('normalize_grad', [t([4], x), t([4], dy)], { eps }).data, fd, 1e-8);
  });
  it('dropout_mask draws from the shared hash and rescales kept elements', () => {
    const seed = t([], [7]);
    const m = ev('dropout_mask', [seed], { shape: [4, 25], p: 0.5, salt: 3 }, ['i32']);
    expect(m.shape).toEqual([4, 25]);
    m.data.forEach((v, i) => expect(v).toBe(dropoutKeeps(7, 3, i, 0.5) ? 2 : 0));
    expect(new Set(m.data)).toEqual(new Set([0, 2]));
    expect(ev('dropout_mask', [seed], { shape: [5], p: 0, salt: 1 }, ['i32']).data).toEqual([1, 1, 1, 1, 1]);
  });
  it('leaves are supplied by the executor', () => {
    expect(() => referenceOps.param([], { name: 'w', shape: [1] }, { shape: [1] })).toThrow(/leaf/);
  });
});

describe('runReference', () => {
  function graph(shape: (number | string)[]) {
    const b = new GraphBuilder();
    const w = b.op('param', [], { name: 'w', shape });
    b.params.push({ name: 'w', node: w, shape, init: { kind: 'zeros' }, trainable: true, origin: internalSpan });
    const x = b.op('input', [], { name: 'x', shape, dtype: 'f32' });
    b.inputs.push({ name: 'x', node: x, shape, dtype: 'f32' });
    b.outputs.loss = b.sum(b.mul(w, x), [0], false);
    return b.build();
  }
  it('evaluates every node in order', () => {
    const g = graph([3]);
    const v = runReference(g, { params: new Map([['w', Float64Array.of(1, 2, 3)]]), inputs: new Map([['x', Int32Array.of(4, 5, 6)]]) });
    expect(v.length).toBe(g.nodes.length);
    expect([...v[g.outputs.loss!]!.data]).toEqual([32]);
  });
  it('rejects symbolic shapes, missing feeds and wrong sizes', () => {
    const feeds = { params: new Map([['w', Float64Array.of(1, 2, 3)]]), inputs: new Map([['x', Float64Array.of(1, 1, 1)]]) };
    expect(() => runReference(graph(['B']), feeds)).toThrow(/symbolic shape \[B\].*specialize/);
    expect(() => runReference(graph([3]), { ...feeds, params: new Map() })).toThrow(/no value fed for param 'w'/);
    expect(() => runReference(graph([2]), feeds)).toThrow(/expects 2 values/);
  });
});

describe('initParam', () => {
  it('mulberry32 is deterministic and uniform-ish', () => {
    const [r1, r2] = [mulberry32(42), mulberry32(42)];
    const xs = Array.from({ length: 1000 }, () => r1());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => r2()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(Math.abs(xs.reduce((a, x) => a + x, 0) / 1000 - 0.5)).toBeLessThan(0.05);
  });
  it('implements every init kind', () => {
    const rng = mulberry32(1);
    expect([...initParam({ kind: 'zeros' }, [2, 2], rng)]).toEqual([0, 0, 0, 0]);
    expect([...initParam({ kind: 'ones' }, [3], rng)]).toEqual([1, 1, 1]);
    const u = initParam({ kind: 'uniform', low: -2, high: -1 }, [500], rng);
    expect(u.every((v) => v >= -2 && v < -1)).toBe(true);
    // PyTorch's Linear default a = √5 gives bound = √(2/6)·√(3/fanIn) = 1/√fanIn = 0.25.
    const k = initParam({ kind: 'kaiming_uniform', a: Math.sqrt(5), fanIn: 16 }, [4000], rng);
    expect(Math.max(...k.map(Math.abs))).toBeLessThanOrEqual(0.25);
    expect(Math.max(...k.map(Math.abs))).toBeGreaterThan(0.24);
    const n = initParam({ kind: 'normal', mean: 3, std: 0.5 }, [20000], rng);
    const mean = n.reduce((a, v) => a + v, 0) / n.length;
    const std = Math.sqrt(n.reduce((a, v) => a + (v - mean) ** 2, 0) / n.length);
    expect(Math.abs(mean - 3)).toBeLessThan(0.02);
    expect(Math.abs(std - 0.5)).toBeLessThan(0.02);
  });
});
