/**
 * DoRA on a Linear: y = base(x) + (m/‖W+sBA‖ − 1)(x Wᵀ) + (m/‖W+sBA‖)·s·(x Aᵀ Bᵀ), the norm
 * detached; m starts as the row norms of W (the `row_norm` init).
 */
import { describe, expect, it } from 'vitest';
import { initialParams } from '../../runtime/params.ts';
import {
  addedCount,
  B,
  compile,
  expectClose,
  gradCheck,
  gradients,
  initParams,
  linearInputs,
  linearModel,
  linearRows,
  matmul,
  mse,
  randomParams,
  run,
  type Params,
} from './helpers.ts';

const text = linearModel(`
tune dora for L1 { dora(r = 2, alpha = 3) on lin }
`);
const s = 3 / 2;
const rows = B * 3;

/** ‖W + s·B A‖ per output row. */
function rowNorms(p: Params): number[] {
  const W = p.get('lin.weight')!;
  const ba = matmul(p.get('lin.lora_B')!, 4, p.get('lin.lora_A')!, 5);
  return Array.from({ length: 4 }, (_, o) => Math.hypot(...Array.from({ length: 5 }, (_, i) => W[o * 5 + i]! + s * ba[o * 5 + i]!)));
}

/** The DoRA output, with the row norm taken from `normFrom` (held fixed for the detached gradient). */
function formula(p: Params, x: Float64Array, normFrom: Params = p): Float64Array {
  const norm = rowNorms(normFrom);
  const m = p.get('lin.lora_magnitude_vector')!;
  const bias = p.get('lin.bias')!;
  const xw = linearRows(x, rows, p.get('lin.weight')!, 4);
  const up = linearRows(linearRows(x, rows, p.get('lin.lora_A')!, 2), rows, p.get('lin.lora_B')!, 4);
  return Float64Array.from({ length: rows * 4 }, (_, i) => {
    const o = i % 4;
    const g = m[o]! / norm[o]!;
    return xw[i]! + bias[o]! + (g - 1) * xw[i]! + g * s * up[i]!;
  });
}

describe('DoRA', () => {
  it('forward matches the formula with random A, B, m', () => {
    const fe = compile(text, 'dora');
    const inputs = linearInputs();
    const p = randomParams(fe.forward, 5, { B });
    expectClose(run(fe.forward, { B }, p, inputs).out!, formula(p, inputs.get('x') as Float64Array));
  });

  it('adds r·(in + out) + out parameters; m starts at the row norms of W', () => {
    const fe = compile(text, 'dora');
    expect(addedCount(fe, 'dora')).toBe(2 * (5 + 4) + 4);
    expect(fe.forward.params.find((q) => q.name === 'lin.lora_magnitude_vector')!.init).toEqual({ kind: 'row_norm', of: 'lin.weight' });
    const init = initParams(fe.forward, { B });
    const W = init.get('lin.weight')!;
    const m = init.get('lin.lora_magnitude_vector')!;
    for (let o = 0; o < 4; o++) expect(m[o]).toBeCloseTo(Math.hypot(...W.slice(o * 5, o * 5 + 5)), 6);
  });

  it('takes m from the loaded base weight when weights are given (as peft wraps a pretrained layer)', () => {
    const fe = compile(text, 'dora');
    const loaded = Float32Array.from({ length: 20 }, (_, i) => Math.sin(i + 1) * 3);
    const init = initialParams(fe.forward, 0, new Map([['lin.weight', loaded]]));
    expect(init.get('lin.weight')).toBe(loaded);
    const m = init.get('lin.lora_magnitude_vector')!;
    for (let o = 0; o < 4; o++) expect(m[o]).toBeCloseTo(Math.hypot(...loaded.slice(o * 5, o * 5 + 5)), 5);
    // A magnitude that is itself given (a saved adapter) is kept as is.
    const saved = Float32Array.of(1, 2, 3, 4);
    expect(
      initialParams(
        fe.forward,
        0,
        new Map([
          ['lin.weight', loaded],
          ['lin.lora_magnitude_vector', saved],
        ]),
      ).get('lin.lora_magnitude_vector'),
    ).toBe(saved);
  });

  it('is a no-op at initialisation (up to the f32 rounding of m)', () => {
    const base = compile(text, 'base');
    const fe = compile(text, 'dora');
    const inputs = linearInputs();
    const want = run(base.forward, { B }, initParams(base.forward, { B }), inputs).out!;
    expectClose(run(fe.forward, { B }, initParams(fe.forward, { B }), inputs).out!, want, 1e-7);
  });

  it('gradient of m matches finite differences; those of A and B match them with the norm held fixed (detached)', () => {
    const fe = compile(text, 'dora');
    const inputs = linearInputs();
    const p = randomParams(fe.forward, 6, { B });
    gradCheck(fe, { B }, p, inputs, (n) => n.endsWith('lora_magnitude_vector'));
    const x = inputs.get('x') as Float64Array;
    const y = inputs.get('y') as Float64Array;
    const grads = gradients(fe, { B }, p, inputs);
    for (const name of ['lin.lora_A', 'lin.lora_B']) {
      const theta = p.get(name)!;
      for (let i = 0; i < theta.length; i++) {
        const at = (d: number) => {
          const moved = theta.slice();
          moved[i]! += d;
          return mse(formula(new Map(p).set(name, moved), x, p), y);
        };
        const numeric = (at(1e-6) - at(-1e-6)) / 2e-6;
        expect(Math.abs(grads.get(name)![i]! - numeric), `${name}[${i}]`).toBeLessThan(1e-7);
      }
    }
  });
});
