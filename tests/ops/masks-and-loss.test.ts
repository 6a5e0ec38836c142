/**
 * The padding builtins and cross_entropy's `ignore`/`reduction`, on the float64 reference:
 * values against direct formulas, ignored labels leave the loss and its gradient untouched,
 * the mean over zero counted labels is 0 (not NaN), and finite-difference gradient checks.
 */
import { describe, expect, it } from 'vitest';
import { compile, expectClose, gradCheck, gradients, run } from '../peft/helpers.ts';

const B = 2;
const [S, D, C] = [4, 3, 5];

const ceModel = `
model CE {
  config { classes = ${C} }
  input x: f32[B, ${S}, ${D}]
  input labels: i32[B, ${S}]
  param w: f32[${D}, classes] = normal(0, 1)
  forward {
    let logits = x @ w
    output logits_out = logits
    output mean0 = cross_entropy(logits, labels, smoothing = 0.1, ignore = 0)
    output sum0 = cross_entropy(logits, labels, smoothing = 0.1, ignore = 0, reduction = "sum")
    output none0 = cross_entropy(logits, labels, smoothing = 0.1, ignore = 0, reduction = "none")
    output mean2 = cross_entropy(logits, labels, ignore = 2)
    output neg = cross_entropy(logits, labels, smoothing = 0.1, ignore = -100)
    output plain = cross_entropy(logits, labels, smoothing = 0.1)
    output plain_mean = cross_entropy(logits, labels, smoothing = 0.1, reduction = "mean")
    output plain_sum = cross_entropy(logits, labels, smoothing = 0.1, reduction = "sum")
    output plain_none = cross_entropy(logits, labels, smoothing = 0.1, reduction = "none")
    loss cross_entropy(logits, labels, smoothing = 0.1, ignore = 0)
  }
}`;

const x = (seed: number) => Float64Array.from({ length: B * S * D }, (_, i) => Math.sin(0.7 * i + seed));
// Two labels are [PAD] (0); one is PyTorch's -100 (outside [0, C)).
const labels = Int32Array.of(3, 0, 4, 0, 1, -100, 2, 2);

/** PyTorch's per-label smoothed cross-entropy; a label outside [0, C) has nll 0 (an all-zero one-hot row). */
function perLabel(logits: Float64Array, ys: Int32Array, eps: number): Float64Array {
  return Float64Array.from(ys, (y, r) => {
    const row = logits.subarray(r * C, (r + 1) * C);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    const lp = Array.from(row, (v) => v - lse);
    const nll = y >= 0 && y < C ? -lp[y]! : 0;
    return (1 - eps) * nll - (eps * lp.reduce((s, v) => s + v, 0)) / C;
  });
}

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);

describe('cross_entropy with ignore and reduction', () => {
  const fe = compile(ceModel, undefined);
  const params = new Map([['w', Float64Array.from({ length: D * C }, (_, i) => Math.cos(1.3 * i))]]);
  const feeds = (xs: Float64Array, ys: Int32Array) =>
    new Map<string, Float64Array | Int32Array>([
      ['x', xs],
      ['labels', ys],
    ]);

  it('matches PyTorch semantics for every reduction, with and without ignore', () => {
    const out = run(fe.forward, { B }, params, feeds(x(1), labels));
    const per = perLabel(out.logits_out!, labels, 0.1);
    const kept0 = Array.from(labels, (y) => (y === 0 ? 0 : 1));
    const masked0 = per.map((v, i) => v * kept0[i]!);
    expectClose(out.none0!, masked0, 1e-12);
    expectClose(out.sum0!, [sum(masked0)], 1e-12);
    expectClose(out.mean0!, [sum(masked0) / sum(kept0)], 1e-12);
    // ignore = 2, no smoothing: the two 2s drop out of numerator and count.
    const per0 = perLabel(out.logits_out!, labels, 0);
    const kept2 = Array.from(labels, (y) => (y === 2 ? 0 : 1));
    expectClose(out.mean2!, [sum(per0.map((v, i) => v * kept2[i]!)) / sum(kept2)], 1e-12);
    // ignore = -100 (outside [0, C)): the -100 label drops out.
    const keptNeg = Array.from(labels, (y) => (y >= 0 && y < C ? 1 : 0));
    expectClose(out.neg!, [sum(per.map((v, i) => v * keptNeg[i]!)) / sum(keptNeg)], 1e-12);
    // Without ignore: exactly the old mean over every label (the default), its sum, its rows.
    expectClose(out.plain!, [sum(per) / per.length], 1e-12);
    expect(out.plain_mean![0]).toBe(out.plain![0]);
    expectClose(out.plain_sum!, [sum(per)], 1e-12);
    expectClose(out.plain_none!, per, 1e-12);
  });

  it('ignored positions change neither the loss nor its gradient', () => {
    const xs = x(2);
    const moved = xs.slice();
    labels.forEach((y, r) => {
      if (y === 0) for (let d = 0; d < D; d++) moved[r * D + d] = 10 * Math.cos(r + d);
    });
    const a = run(fe.forward, { B }, params, feeds(xs, labels));
    const b = run(fe.forward, { B }, params, feeds(moved, labels));
    expect(b.loss![0]).toBeCloseTo(a.loss![0]!, 12);
    expect(b.plain![0]).not.toBeCloseTo(a.plain![0]!, 3); // the unmasked loss does move
    const ga = gradients(compile(ceModel, undefined, { training: true }), { B }, params, feeds(xs, labels)).get('w')!;
    const gb = gradients(compile(ceModel, undefined, { training: true }), { B }, params, feeds(moved, labels)).get('w')!;
    expectClose(gb, ga, 1e-12);
    expect(ga.some((v) => Math.abs(v) > 1e-3)).toBe(true);
  });

  it('the mean over no counted labels is 0 with a zero gradient', () => {
    const pads = new Int32Array(B * S);
    const out = run(fe.forward, { B }, params, feeds(x(3), pads));
    expect(out.loss![0]).toBe(0);
    expect(out.sum0![0]).toBe(0);
    const g = gradients(compile(ceModel, undefined, { training: true }), { B }, params, feeds(x(3), pads)).get('w')!;
    expect(g.every((v) => v === 0)).toBe(true);
  });

  it('gradients by central differences', () => {
    const tr = compile(ceModel, undefined, { training: true });
    expect(gradCheck(tr, { B }, params, feeds(x(4), labels), (n) => n === 'w')).toBe(D * C);
  });
});

describe('attention_mask and attention_bias', () => {
  const text = `
model M {
  input ids: i32[B, 4]
  forward {
    output m = attention_mask(ids)
    output m3 = attention_mask(ids, pad = 3)
    output bias = attention_bias(attention_mask(ids))
    output wide = attention_bias(attention_mask(ids), 6)
  }
}`;
  const fe = compile(text, undefined, { training: false });
  const ids = Int32Array.of(2, 7, 0, 0, 3, 0, 5, 3);
  const out = run(fe.forward, { B }, new Map(), new Map([['ids', ids]]));

  it('attention_mask is 1 at tokens and 0 at the pad id', () => {
    expect(Array.from(out.m!)).toEqual([1, 1, 0, 0, 1, 0, 1, 1]);
    expect(Array.from(out.m3!)).toEqual([1, 1, 1, 1, 0, 1, 1, 0]);
  });

  it('attention_bias is 0 on kept keys, -1e9 on padded ones, with leading columns visible', () => {
    const shape = (name: string) => fe.forward.nodes[fe.forward.outputs[name]!]!.shape;
    expect(shape('bias')).toEqual(['B', 1, 1, 4]);
    expect(shape('wide')).toEqual(['B', 1, 1, 6]);
    const P = -1e9;
    expect(Array.from(out.bias!)).toEqual([0, 0, P, P, 0, P, 0, 0]);
    expect(Array.from(out.wide!)).toEqual([0, 0, 0, 0, P, P, 0, 0, 0, P, 0, 0]);
  });
});
