/** LoRA on Linear (plain and rsLoRA) and on stride-k Conv2d sites. */
import { describe, expect, it } from 'vitest';
import {
  addedCount,
  B,
  compile,
  expectClose,
  gradCheck,
  initParams,
  linearInputs,
  linearModel,
  linearRows,
  randomParams,
  run,
  zip,
  floats,
} from './helpers.ts';

const text = linearModel(`
tune lora for L1 { lora(r = 2, alpha = 3) on lin }
tune rs for L1 { lora(r = 4, alpha = 3, rslora = true) on lin }
`);

describe('LoRA on a Linear', () => {
  for (const [tune, r, scale] of [
    ['lora', 2, 3 / 2],
    ['rs', 4, 3 / Math.sqrt(4)],
  ] as const) {
    it(`${tune}: forward is x Wᵀ + b + s·x Aᵀ Bᵀ (s = ${scale})`, () => {
      const fe = compile(text, tune);
      const inputs = linearInputs();
      const p = randomParams(fe.forward, 1, { B });
      const got = run(fe.forward, { B }, p, inputs).out!;
      const x = inputs.get('x') as Float64Array;
      const base = linearRows(x, B * 3, p.get('lin.weight')!, 4, p.get('lin.bias')!);
      const update = linearRows(linearRows(x, B * 3, p.get('lin.lora_A')!, r), B * 3, p.get('lin.lora_B')!, 4);
      expectClose(
        got,
        zip(base, update, (a, u) => a + scale * u),
      );
    });
  }

  it('adds r·(in + out) parameters, A Kaiming-uniform and B zeros', () => {
    const fe = compile(text, 'lora');
    expect(addedCount(fe, 'lora')).toBe(2 * (5 + 4));
    const rs = compile(text, 'rs');
    expect(addedCount(rs, 'lora')).toBe(4 * (5 + 4));
    const a = fe.forward.params.find((q) => q.name === 'lin.lora_A')!;
    expect(a.init).toEqual({ kind: 'kaiming_uniform', a: Math.sqrt(5), fanIn: 5 });
    expect(fe.forward.params.find((q) => q.name === 'lin.lora_B')!.init).toEqual({ kind: 'zeros' });
  });

  it('gradients of A and B match finite differences', () => {
    const fe = compile(text, 'lora');
    const inputs = linearInputs();
    expect(gradCheck(fe, { B }, randomParams(fe.forward, 2, { B }), inputs, (n) => n.includes('lora_'))).toBe(18);
  });

  it('is a no-op at initialisation', () => {
    const base = compile(text, 'base');
    const fe = compile(text, 'lora');
    const inputs = linearInputs();
    const want = run(base.forward, { B }, initParams(base.forward, { B }), inputs).out!;
    expect(Array.from(run(fe.forward, { B }, initParams(fe.forward, { B }), inputs).out!)).toEqual(Array.from(want));
  });
});

// A stride-k Conv2d written with patch reshapes (std.vit's has the same signature).
const convText = `
module Conv2d(in: int, out: int, kernel: int) {
  param weight: f32[out, in, kernel, kernel] = normal(0, 0.02)
  param bias:   f32[out] = zeros
  forward(x: f32[B, in, H, W]) -> f32[B, out, H / kernel, W / kernel] {
    let p = permute(reshape(x, [B, in, H / kernel, kernel, W / kernel, kernel]), [0, 2, 4, 1, 3, 5])
    let y = reshape(p, [B, H / kernel * (W / kernel), in * kernel * kernel]) @ reshape(weight, [out, in * kernel * kernel])^T + bias
    reshape(transpose(y, 1, 2), [B, out, H / kernel, W / kernel])
  }
}

model C1 {
  input x: f32[B, 2, 4, 6]
  input y: f32[B, 3, 2, 3]
  conv = Conv2d(2, 3, 2)
  forward {
    output out = conv(x)
    loss mean((out - y) * (out - y))
  }
}

tune base for C1 { train conv.bias }
tune lora for C1 { lora(r = 2, alpha = 4) on conv }
`;

/** Direct convolution with stride = kernel: x [B, C, H, W], w [O, C, k, k] -> [B, O, H/k, W/k]. */
function conv(
  x: Float64Array,
  [b, c, h, w]: number[],
  wt: ArrayLike<number>,
  o: number,
  k: number,
  bias?: ArrayLike<number>,
): Float64Array {
  const hp = h! / k;
  const wp = w! / k;
  const out = new Float64Array(b! * o * hp * wp);
  for (let n = 0; n < b!; n++)
    for (let f = 0; f < o; f++)
      for (let i = 0; i < hp; i++)
        for (let j = 0; j < wp; j++) {
          let s = bias ? bias[f]! : 0;
          for (let ch = 0; ch < c!; ch++)
            for (let u = 0; u < k; u++)
              for (let v = 0; v < k; v++) s += wt[((f * c! + ch) * k + u) * k + v]! * x[((n * c! + ch) * h! + i * k + u) * w! + j * k + v]!;
          out[((n * o + f) * hp + i) * wp + j] = s;
        }
  return out;
}

describe('LoRA on a Conv2d', () => {
  const inputs = () =>
    new Map<string, Float64Array>([
      ['x', floats(B * 2 * 4 * 6, 21)],
      ['y', floats(B * 3 * 2 * 3, 22)],
    ]);

  it('forward is conv(x) + s·conv1×1_B(conv_A(x)), with peft shapes A [r, in, k, k], B [out, r, 1, 1]', () => {
    const fe = compile(convText, 'lora');
    const shapes = Object.fromEntries(fe.forward.params.map((p) => [p.name, p.shape]));
    expect(shapes['conv.lora_A']).toEqual([2, 2, 2, 2]);
    expect(shapes['conv.lora_B']).toEqual([3, 2, 1, 1]);
    const p = randomParams(fe.forward, 3, { B });
    const x = inputs().get('x')!;
    const got = run(fe.forward, { B }, p, inputs()).out!;
    const base = conv(x, [B, 2, 4, 6], p.get('conv.weight')!, 3, 2, p.get('conv.bias')!);
    const down = conv(x, [B, 2, 4, 6], p.get('conv.lora_A')!, 2, 2);
    const up = conv(down, [B, 2, 2, 3], p.get('conv.lora_B')!, 3, 1);
    expectClose(
      got,
      zip(base, up, (a, u) => a + 2 * u),
    );
  });

  it('adds r·(in·k·k + out) parameters; gradients match; no-op at init', () => {
    const fe = compile(convText, 'lora');
    expect(addedCount(fe, 'lora')).toBe(2 * (2 * 2 * 2 + 3));
    expect(fe.forward.params.find((q) => q.name === 'conv.lora_A')!.init).toEqual({ kind: 'kaiming_uniform', a: Math.sqrt(5), fanIn: 8 });
    gradCheck(fe, { B }, randomParams(fe.forward, 4, { B }), inputs(), (n) => n.includes('lora_'));
    const base = compile(convText, 'base');
    const want = run(base.forward, { B }, initParams(base.forward, { B }), inputs()).out!;
    expect(Array.from(run(fe.forward, { B }, initParams(fe.forward, { B }), inputs()).out!)).toEqual(Array.from(want));
  });
});
