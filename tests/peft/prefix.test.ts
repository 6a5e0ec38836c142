/**
 * Prefix tuning and P-tuning v2 on two attentions (one causal): the shared parameters give
 * P [n, L·2d]; site i prepends columns [2i·d, (2i+1)·d) to its keys and the next d to its
 * values, split into heads. Checked against an independent multi-head attention.
 */
import { describe, expect, it } from 'vitest';
import {
  addedCount,
  B,
  compile,
  expectClose,
  floats,
  gradCheck,
  linearRows,
  randomParams,
  run,
  type Inputs,
  type Params,
} from './helpers.ts';

const T = 3;
const dim = 8;
const heads = 2;
const n = 2;
const hidden = 3;

const text = `use std.nn, std.attention

model A1 {
  config { dim = ${dim}, heads = ${heads} }
  input x: f32[B, ${T}, dim]
  input y: f32[B, ${T}, dim]
  attn  = MultiHeadAttention(dim, heads)
  attn2 = MultiHeadAttention(dim, heads, causal = true)
  forward {
    output out = attn2(attn(x))
    loss mean((out - y) * (out - y))
  }
}

tune base for A1 { train attn.out.bias }
tune prefix for A1 { prefix(tokens = ${n}, hidden = ${hidden}) on attn, attn2 }
tune ptv2 for A1 { ptv2(tokens = ${n}) on attn, attn2 }
tune prefix_one for A1 { prefix(tokens = ${n}, hidden = ${hidden}) on attn2 }
`;

const inputs = (): Inputs =>
  new Map([
    ['x', floats(B * T * dim, 31)],
    ['y', floats(B * T * dim, 32)],
  ]);

/** Columns [c0, c0 + w) of a row-major [rows, cols] matrix. */
const columns = (m: Float64Array, rows: number, cols: number, c0: number, w: number) =>
  Float64Array.from({ length: rows * w }, (_, i) => m[Math.floor(i / w) * cols + c0 + (i % w)]!);

/** Multi-head attention of one site with prefix keys/values [n, dim] prepended (none when n = 0). */
function attention(x: Float64Array, p: Params, site: string, pk: Float64Array, pv: Float64Array, causal: boolean): Float64Array {
  const hd = dim / heads;
  const np = pk.length / dim;
  const out = new Float64Array(x.length);
  const lin = (name: string, rows: Float64Array, count: number) =>
    linearRows(rows, count, p.get(`${site}.${name}.weight`)!, dim, p.get(`${site}.${name}.bias`)!);
  for (let b = 0; b < B; b++) {
    const xb = x.slice(b * T * dim, (b + 1) * T * dim);
    const q = lin('query', xb, T);
    const k = Float64Array.from([...pk, ...lin('key', xb, T)]);
    const v = Float64Array.from([...pv, ...lin('value', xb, T)]);
    const o = new Float64Array(T * dim);
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < T; i++) {
        const visible = Array.from({ length: np + T }, (_, j) => j).filter((j) => !causal || j <= i + np);
        const scores = visible.map((j) => {
          let s = 0;
          for (let e = 0; e < hd; e++) s += q[i * dim + h * hd + e]! * k[j * dim + h * hd + e]!;
          return s / Math.sqrt(hd);
        });
        const mx = Math.max(...scores);
        const w = scores.map((s) => Math.exp(s - mx));
        const z = w.reduce((a, c) => a + c);
        for (let e = 0; e < hd; e++)
          o[i * dim + h * hd + e] = visible.reduce((acc, j, t) => acc + (w[t]! / z) * v[j * dim + h * hd + e]!, 0);
      }
    out.set(lin('out', o, T), b * T * dim);
  }
  return out;
}

/** P [n, L·2d] of each method. */
function prefixRows(tune: string, p: Params, sites: number): Float64Array {
  if (tune === 'ptv2') return p.get('ptv2_0.embedding')!;
  const h = linearRows(
    p.get('prefix_0.embedding')!,
    n,
    p.get('prefix_0.transform_in_weight')!,
    hidden,
    p.get('prefix_0.transform_in_bias')!,
  ).map(Math.tanh);
  return linearRows(h, n, p.get('prefix_0.transform_out_weight')!, sites * 2 * dim, p.get('prefix_0.transform_out_bias')!);
}

function model(tune: string, p: Params, x: Float64Array): Float64Array {
  const L = tune === 'prefix_one' ? 1 : 2;
  const P = tune === 'base' ? new Float64Array(0) : prefixRows(tune, p, L);
  const block = (k: number) => (tune === 'base' ? new Float64Array(0) : columns(P, n, L * 2 * dim, k * dim, dim));
  const none = new Float64Array(0);
  const a = L === 2 ? attention(x, p, 'attn', block(0), block(1), false) : attention(x, p, 'attn', none, none, false);
  const i = L === 2 ? 1 : 0;
  return tune === 'base' ? attention(a, p, 'attn2', none, none, true) : attention(a, p, 'attn2', block(2 * i), block(2 * i + 1), true);
}

describe('prefix tuning and P-tuning v2', () => {
  it('the independent attention reproduces the base model', () => {
    const fe = compile(text, 'base');
    const p = randomParams(fe.forward, 1, { B });
    expectClose(run(fe.forward, { B }, p, inputs()).out!, model('base', p, inputs().get('x') as Float64Array));
  });

  for (const tune of ['prefix', 'ptv2', 'prefix_one']) {
    it(`${tune}: keys and values get each site's slice of P, before the real ones`, () => {
      const fe = compile(text, tune);
      const p = randomParams(fe.forward, 2, { B });
      expectClose(run(fe.forward, { B }, p, inputs()).out!, model(tune, p, inputs().get('x') as Float64Array));
    });
  }

  it('parameters: n·d + d·h + h + h·L·2d + L·2d (prefix), n·L·2d (ptv2), shared by the sites', () => {
    const L = 2;
    const pre = compile(text, 'prefix');
    expect(addedCount(pre, 'prefix')).toBe(n * dim + dim * hidden + hidden + hidden * L * 2 * dim + L * 2 * dim);
    expect(pre.forward.params.filter((q) => q.addedBy === 'prefix').map((q) => [q.name, q.shape])).toEqual([
      ['prefix_0.embedding', [n, dim]],
      ['prefix_0.transform_in_weight', [hidden, dim]],
      ['prefix_0.transform_in_bias', [hidden]],
      ['prefix_0.transform_out_weight', [L * 2 * dim, hidden]],
      ['prefix_0.transform_out_bias', [L * 2 * dim]],
    ]);
    expect(addedCount(compile(text, 'ptv2'), 'ptv2')).toBe(n * L * 2 * dim);
    expect(addedCount(compile(text, 'prefix_one'), 'prefix')).toBe(n * dim + dim * hidden + hidden + hidden * 2 * dim + 2 * dim);
    expect(pre.tune.matches.filter((m) => m.method === 'prefix').flatMap((m) => m.sites)).toEqual(['attn', 'attn2']);
  });

  for (const tune of ['prefix', 'ptv2']) {
    it(`${tune}: gradients of the shared parameters match finite differences`, () => {
      const fe = compile(text, tune);
      gradCheck(fe, { B }, randomParams(fe.forward, 3, { B }), inputs(), (name) => name.startsWith(`${tune}_0.`), 40);
    });
  }
});
