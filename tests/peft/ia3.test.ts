/** IA3 (output and feed-forward input scaling) and unions of methods on one Linear. */
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
  perFeature,
  randomParams,
  run,
  zip,
} from './helpers.ts';

const text = linearModel(`
tune ia3 for L1 { ia3() on lin }
tune ia3ff for L1 { ia3(feedforward = true) on lin }
tune lora_then_ia3 for L1 {
  lora(r = 2, alpha = 2) on lin
  ia3() on lin
}
tune ia3_then_lora for L1 {
  ia3(feedforward = true) on lin
  lora(r = 2, alpha = 2) on lin
}
`);
const rows = B * 3;

describe('IA3', () => {
  it('output scaling: base(x) ⊙ l, l ∈ R^out', () => {
    const fe = compile(text, 'ia3');
    const inputs = linearInputs();
    const p = randomParams(fe.forward, 1, { B });
    const base = linearRows(inputs.get('x')!, rows, p.get('lin.weight')!, 4, p.get('lin.bias')!);
    expectClose(
      run(fe.forward, { B }, p, inputs).out!,
      perFeature(base, p.get('lin.ia3_l')!, (y, l) => y * l),
    );
  });

  it('feed-forward input scaling: base(x ⊙ l), l ∈ R^in', () => {
    const fe = compile(text, 'ia3ff');
    const inputs = linearInputs();
    const p = randomParams(fe.forward, 2, { B });
    const scaled = perFeature(inputs.get('x')!, p.get('lin.ia3_l')!, (x, l) => x * l);
    expectClose(run(fe.forward, { B }, p, inputs).out!, linearRows(scaled, rows, p.get('lin.weight')!, 4, p.get('lin.bias')!));
  });

  it('adds out (or in) parameters, initialised to ones: a no-op at init', () => {
    const base = compile(text, 'base');
    const inputs = linearInputs();
    const want = Array.from(run(base.forward, { B }, initParams(base.forward, { B }), inputs).out!);
    for (const [tune, n] of [
      ['ia3', 4],
      ['ia3ff', 5],
    ] as const) {
      const fe = compile(text, tune);
      expect(addedCount(fe, 'ia3')).toBe(n);
      expect(fe.forward.params.find((q) => q.name === 'lin.ia3_l')!.init).toEqual({ kind: 'ones' });
      expect(Array.from(run(fe.forward, { B }, initParams(fe.forward, { B }), inputs).out!)).toEqual(want);
    }
  });

  it('gradients of l match finite differences', () => {
    for (const tune of ['ia3', 'ia3ff']) {
      const fe = compile(text, tune);
      gradCheck(fe, { B }, randomParams(fe.forward, 3, { B }), linearInputs(), (n) => n.endsWith('ia3_l'));
    }
  });
});

describe('unions: several methods stack on one site, the first attached innermost', () => {
  it('LoRA then IA3: (x Wᵀ + b + s·x Aᵀ Bᵀ) ⊙ l', () => {
    const fe = compile(text, 'lora_then_ia3');
    expect(addedCount(fe, 'lora') + addedCount(fe, 'ia3')).toBe(2 * (5 + 4) + 4);
    const inputs = linearInputs();
    const p = randomParams(fe.forward, 4, { B });
    const x = inputs.get('x')!;
    const inner = zip(
      linearRows(x, rows, p.get('lin.weight')!, 4, p.get('lin.bias')!),
      linearRows(linearRows(x, rows, p.get('lin.lora_A')!, 2), rows, p.get('lin.lora_B')!, 4),
      (a, u) => a + u,
    );
    expectClose(
      run(fe.forward, { B }, p, inputs).out!,
      perFeature(inner, p.get('lin.ia3_l')!, (y, l) => y * l),
    );
    gradCheck(fe, { B }, p, inputs, (n) => n.includes('lora_') || n.endsWith('ia3_l'));
  });

  it('feed-forward IA3 then LoRA: (x ⊙ l) Wᵀ + b + s·x Aᵀ Bᵀ', () => {
    const fe = compile(text, 'ia3_then_lora');
    const inputs = linearInputs();
    const p = randomParams(fe.forward, 5, { B });
    const x = inputs.get('x')!;
    const base = linearRows(
      perFeature(x, p.get('lin.ia3_l')!, (v, l) => v * l),
      rows,
      p.get('lin.weight')!,
      4,
      p.get('lin.bias')!,
    );
    const update = linearRows(linearRows(x, rows, p.get('lin.lora_A')!, 2), rows, p.get('lin.lora_B')!, 4);
    expectClose(
      run(fe.forward, { B }, p, inputs).out!,
      zip(base, update, (a, u) => a + u),
    );
    gradCheck(fe, { B }, p, inputs, (n) => n.includes('lora_') || n.endsWith('ia3_l'));
  });

  it('the union is a no-op at initialisation', () => {
    const base = compile(text, 'base');
    const inputs = linearInputs();
    const want = Array.from(run(base.forward, { B }, initParams(base.forward, { B }), inputs).out!);
    for (const tune of ['lora_then_ia3', 'ia3_then_lora']) {
      const fe = compile(text, tune);
      expect(Array.from(run(fe.forward, { B }, initParams(fe.forward, { B }), inputs).out!)).toEqual(want);
    }
  });
});
