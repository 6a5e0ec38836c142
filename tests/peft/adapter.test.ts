/**
 * Bottleneck adapters on an attention, an MLP and a Linear: sequential y + s·up(relu(down(y)))
 * after the site, or parallel base(x) + s·up(relu(down(x))); each checked against the base
 * model's values.
 */
import { describe, expect, it } from 'vitest';
import {
  addedCount,
  B,
  compile,
  expectClose,
  floats,
  gradCheck,
  initParams,
  linearInputs,
  linearModel,
  linearRows,
  randomParams,
  run,
  zip,
  type Inputs,
  type Params,
} from './helpers.ts';

const T = 3;
const dim = 6;
const hidden = 10;
const m = 4;

const text = `use std.nn, std.attention

model D1 {
  config { dim = ${dim}, hidden = ${hidden} }
  input x: f32[B, ${T}, dim]
  input y: f32[B, ${T}, dim]
  attn = MultiHeadAttention(dim, 2)
  mlp  = MLP(dim, hidden)
  forward {
    output a = attn(x)
    output out = mlp(a)
    loss mean((out - y) * (out - y))
  }
}

tune base for D1 { train mlp.fc2.bias }
tune houlsby for D1 { adapter(size = ${m}) on attn, mlp }
tune pfeiffer for D1 { adapter(size = ${m}) on mlp }
tune parallel for D1 { adapter(size = ${m}, parallel = true, scale = 2.5) on mlp }
`;

const inputs = (): Inputs =>
  new Map([
    ['x', floats(B * T * dim, 41)],
    ['y', floats(B * T * dim, 42)],
  ]);

/** s · up(relu(down(h))) of the adapter at `site`. */
function adapterOf(p: Params, site: string, h: Float64Array, s = 1): Float64Array {
  const rows = h.length / dim;
  const down = linearRows(h, rows, p.get(`${site}.adapter_down`)!, m, p.get(`${site}.adapter_down_bias`)!).map((v) => Math.max(v, 0));
  return linearRows(down, rows, p.get(`${site}.adapter_up`)!, dim, p.get(`${site}.adapter_up_bias`)!).map((v) => s * v);
}

/** Runs the base model with the tuned model's backbone values, returning `a` and `out`. */
function baseRun(p: Params, x: Float64Array): { a: Float64Array; out: Float64Array } {
  const fe = compile(text, 'base');
  const r = run(
    fe.forward,
    { B },
    new Map([...p].filter(([k]) => !k.includes('adapter_'))),
    new Map([...inputs()].map(([k, v]) => [k, k === 'x' ? x : v])),
  );
  return { a: r.a!, out: r.out! };
}

describe('bottleneck adapters', () => {
  it('Pfeiffer (after the FFN): out = mlp(a) + up(relu(down(mlp(a))))', () => {
    const fe = compile(text, 'pfeiffer');
    const p = randomParams(fe.forward, 1, { B });
    const got = run(fe.forward, { B }, p, inputs());
    const base = baseRun(p, inputs().get('x') as Float64Array);
    expectClose(got.a!, base.a);
    expectClose(
      got.out!,
      zip(base.out, adapterOf(p, 'mlp', base.out), (u, v) => u + v),
    );
  });

  it('Houlsby (after attention and FFN): both outputs carry their adapter', () => {
    const fe = compile(text, 'houlsby');
    const p = randomParams(fe.forward, 2, { B });
    const got = run(fe.forward, { B }, p, inputs());
    const a0 = baseRun(p, inputs().get('x') as Float64Array).a;
    const a = zip(a0, adapterOf(p, 'attn', a0), (u, v) => u + v);
    expectClose(got.a!, a);
    // The MLP now reads the adapted attention output: evaluate it by re-running the MLP alone.
    const mlpOut = mlpOnly(p, a);
    expectClose(
      got.out!,
      zip(mlpOut, adapterOf(p, 'mlp', mlpOut), (u, v) => u + v),
    );
  });

  it('parallel: out = mlp(a) + s·up(relu(down(a)))', () => {
    const fe = compile(text, 'parallel');
    const p = randomParams(fe.forward, 3, { B });
    const got = run(fe.forward, { B }, p, inputs());
    const base = baseRun(p, inputs().get('x') as Float64Array);
    expectClose(
      got.out!,
      zip(base.out, adapterOf(p, 'mlp', base.a, 2.5), (u, v) => u + v),
    );
  });

  it('adds 2·d·m + d + m parameters per site; zero up-projection makes it a no-op at init', () => {
    const per = 2 * dim * m + dim + m;
    expect(addedCount(compile(text, 'houlsby'), 'adapter')).toBe(2 * per);
    expect(addedCount(compile(text, 'pfeiffer'), 'adapter')).toBe(per);
    const base = compile(text, 'base');
    const want = run(base.forward, { B }, initParams(base.forward, { B }), inputs());
    for (const tune of ['houlsby', 'pfeiffer', 'parallel']) {
      const fe = compile(text, tune);
      const init = new Map(fe.forward.params.map((q) => [q.name.split('.').pop(), q.init]));
      expect(init.get('adapter_up')).toEqual({ kind: 'zeros' });
      expect(init.get('adapter_down')).toEqual({ kind: 'kaiming_uniform', a: Math.sqrt(5), fanIn: dim });
      const got = run(fe.forward, { B }, initParams(fe.forward, { B }), inputs());
      expect(Array.from(got.out!)).toEqual(Array.from(want.out!));
    }
  });

  for (const tune of ['houlsby', 'parallel']) {
    it(`${tune}: gradients of the adapter parameters match finite differences`, () => {
      const fe = compile(text, tune);
      gradCheck(fe, { B }, randomParams(fe.forward, 4, { B }), inputs(), (name) => name.includes('adapter_'));
    });
  }
});

/** The MLP of the base model (fc2(gelu(fc1(h)))) evaluated by the reference on its own. */
function mlpOnly(p: Params, h: Float64Array): Float64Array {
  const src = `use std.nn
model M2 {
  input h: f32[B, ${T}, ${dim}]
  mlp = MLP(${dim}, ${hidden})
  forward { output out = mlp(h)
    loss mean(out) }
}`;
  const fe = compile(src, undefined);
  return run(fe.forward, { B }, new Map([...p].filter(([k]) => k.startsWith('mlp.') && !k.includes('adapter_'))), new Map([['h', h]])).out!;
}

describe('bottleneck adapters on a Linear (BERT places them after the output dense layers)', () => {
  const linText = linearModel(`
tune seq for L1 { adapter(size = 3) on lin }
tune par for L1 { adapter(size = 3, parallel = true) on lin }
`);
  const rows = B * 3;
  const bottleneck = (p: Params, h: Float64Array) => {
    const down = linearRows(h, rows, p.get('lin.adapter_down')!, 3, p.get('lin.adapter_down_bias')!).map((v) => Math.max(v, 0));
    return linearRows(down, rows, p.get('lin.adapter_up')!, 4, p.get('lin.adapter_up_bias')!);
  };

  it('sequential: y + up(relu(down(y))) with y = x Wᵀ + b (d = out); 2·out·m + out + m parameters', () => {
    const fe = compile(linText, 'seq');
    expect(addedCount(fe, 'adapter')).toBe(2 * 4 * 3 + 4 + 3);
    const inputs = linearInputs();
    const p = randomParams(fe.forward, 7, { B });
    const y = linearRows(inputs.get('x')!, rows, p.get('lin.weight')!, 4, p.get('lin.bias')!);
    expectClose(
      run(fe.forward, { B }, p, inputs).out!,
      zip(y, bottleneck(p, y), (u, v) => u + v),
    );
    gradCheck(fe, { B }, p, inputs, (n) => n.includes('adapter_'));
  });

  it('parallel: y + up(relu(down(x))), down reading the input width; in·m + m + m·out + out parameters', () => {
    const fe = compile(linText, 'par');
    expect(addedCount(fe, 'adapter')).toBe(5 * 3 + 3 + 3 * 4 + 4);
    const inputs = linearInputs();
    const p = randomParams(fe.forward, 8, { B });
    const x = inputs.get('x') as Float64Array;
    const y = linearRows(x, rows, p.get('lin.weight')!, 4, p.get('lin.bias')!);
    expectClose(
      run(fe.forward, { B }, p, inputs).out!,
      zip(y, bottleneck(p, x), (u, v) => u + v),
    );
    gradCheck(fe, { B }, p, inputs, (n) => n.includes('adapter_'));
  });
});
